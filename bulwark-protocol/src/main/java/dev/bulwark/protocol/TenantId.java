package dev.bulwark.protocol;

/** A tenant (device manufacturer) identifier; see {@link IdGrammar}. */
public record TenantId(String value) implements Comparable<TenantId> {
    public TenantId {
        IdGrammar.tenant("tenant id", value);
    }

    public static TenantId of(String value) {
        return new TenantId(value);
    }

    @Override
    public int compareTo(TenantId o) {
        return value.compareTo(o.value);
    }

    @Override
    public String toString() {
        return value;
    }
}
