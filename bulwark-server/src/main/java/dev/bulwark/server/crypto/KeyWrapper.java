package dev.bulwark.server.crypto;

/**
 * Wraps data keys under a key-encryption key that lives outside the database. The default is
 * {@link FileKek} (a key file in the data directory, owner-only); a KMS or an HSM implements the same two
 * calls. A wrapped key starts with a format version byte; naming the wrapping key (for rotation) comes with the
 * first implementation that has more than one.
 */
public interface KeyWrapper {
    /** The data key, encrypted and authenticated under the key-encryption key. */
    byte[] wrap(byte[] dataKey, byte[] context);

    /** The data key back; throws {@link IllegalStateException} when the wrapped bytes or the context were altered. */
    byte[] unwrap(byte[] wrapped, byte[] context);
}
