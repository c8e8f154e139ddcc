package dev.bulwark.protocol;

/** A device model identifier within a tenant; see {@link IdGrammar}. */
public record ModelId(String value) {
    public ModelId {
        IdGrammar.lowerName("model", value);
    }

    public static ModelId of(String value) {
        return new ModelId(value);
    }

    @Override
    public String toString() {
        return value;
    }
}
