package dev.bulwark.protocol.firmware;

/**
 * Firmware metadata or an image that must not be installed; {@code reason} is a stable slug
 * ({@code threshold-not-met}, {@code expired}, {@code rollback}, {@code freeze}, {@code mixed-metadata},
 * {@code model-mismatch}, {@code hardware-incompatible}, {@code digest-mismatch}, {@code length-mismatch},
 * {@code root-not-trusted}, {@code malformed}, ...).
 */
public final class FirmwareRejected extends RuntimeException {
    private final String reason;

    public FirmwareRejected(String reason, String detail) {
        super(reason + ": " + detail, null, false, false);
        this.reason = reason;
    }

    public String reason() {
        return reason;
    }
}
