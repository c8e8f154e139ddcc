package dev.bulwark.protocol;

/** A device identifier, unique within its tenant; see {@link IdGrammar}. */
public record DeviceId(String value) implements Comparable<DeviceId> {
    public DeviceId {
        IdGrammar.device("device id", value);
    }

    public static DeviceId of(String value) {
        return new DeviceId(value);
    }

    @Override
    public int compareTo(DeviceId o) {
        return value.compareTo(o.value);
    }

    @Override
    public String toString() {
        return value;
    }
}
