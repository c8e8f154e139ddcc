package dev.bulwark.server.config;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where the node's key-encryption key (KEK) lives. The KEK wraps every data key; a copy of the data directory
 * that also holds the KEK can open everything crypto-shredding was meant to make unreadable, so production nodes
 * keep it elsewhere:
 * <ul>
 *   <li>{@link Source#DATA_DIRECTORY} (the default, for {@code bulwark demo} and first steps): {@code <data>/keys/kek};</li>
 *   <li>{@link Source#FILE} ({@code --kek file:/path}): a 32-byte file outside the data directory, created owner-only
 *       if absent, refused when group or others may read or write it;</li>
 *   <li>{@link Source#PKCS11} ({@code --kek pkcs11:/path/to/provider.cfg}): an AES-256 key generated on a PKCS#11
 *       token (an HSM, SoftHSM2 for tests) through the JDK's SunPKCS11 provider; it never leaves the token. The
 *       token PIN comes from a file ({@code --kek-pin-file}) or an environment variable ({@code --kek-pin-env}),
 *       never from the command line.</li>
 * </ul>
 *
 * @param source  where the KEK is
 * @param path    the KEK file ({@code FILE}) or the SunPKCS11 configuration file ({@code PKCS11}); null otherwise
 * @param pinFile file holding the token PIN (PKCS#11), or null
 * @param pinEnv  environment variable holding the token PIN (PKCS#11), used when {@code pinFile} is null
 * @param label   label of the key on the token (PKCS#11)
 */
public record KekSettings(Source source, Path path, Path pinFile, String pinEnv, String label) {
    public static final String DEFAULT_PIN_ENV = "BULWARK_KEK_PIN";
    public static final String DEFAULT_LABEL = "bulwark-kek";

    /** Where the KEK lives. */
    public enum Source { DATA_DIRECTORY, FILE, PKCS11 }

    public KekSettings {
        Objects.requireNonNull(source, "source");
        if (source != Source.DATA_DIRECTORY && path == null) {
            throw new IllegalArgumentException("a " + source + " key-encryption key needs a path");
        }
        pinEnv = pinEnv == null || pinEnv.isBlank() ? DEFAULT_PIN_ENV : pinEnv;
        label = label == null || label.isBlank() ? DEFAULT_LABEL : label;
    }

    /** The default: {@code <data>/keys/kek}. */
    public static KekSettings dataDirectory() {
        return new KekSettings(Source.DATA_DIRECTORY, null, null, null, null);
    }

    public static KekSettings file(Path file) {
        return new KekSettings(Source.FILE, file, null, null, null);
    }

    public static KekSettings pkcs11(Path providerConfig, Path pinFile, String pinEnv, String label) {
        return new KekSettings(Source.PKCS11, providerConfig, pinFile, pinEnv, label);
    }

    /**
     * Parses {@code --kek}: {@code data} (or null), {@code file:/path} or {@code pkcs11:/path/to/provider.cfg}.
     *
     * @throws IllegalArgumentException naming the accepted forms
     */
    public static KekSettings parse(String spec, Path pinFile, String pinEnv, String label) {
        if (spec == null || spec.isBlank() || spec.equals("data")) {
            return dataDirectory();
        }
        if (spec.startsWith("file:") && spec.length() > 5) {
            return file(Path.of(spec.substring(5)));
        }
        if (spec.startsWith("pkcs11:") && spec.length() > 7) {
            return pkcs11(Path.of(spec.substring(7)), pinFile, pinEnv, label);
        }
        throw new IllegalArgumentException("--kek must be 'data', 'file:/path/to/kek' or 'pkcs11:/path/to/provider.cfg', not '" + spec + "'");
    }
}
