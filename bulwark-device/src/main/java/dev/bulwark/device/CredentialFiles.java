package dev.bulwark.device;

import dev.bulwark.protocol.DeviceId;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Optional;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;

/**
 * The device's credential on its own storage: one file, {@code credentials.pem}, holding the private key
 * (PKCS#8) and the certificate, created readable and writable by its owner only (the directory too).
 *
 * <p>Key and certificate live in one file so that a renewal replaces both in a single atomic rename: a
 * power cut mid-renewal leaves the old pair or the new pair, never a key with someone else's certificate.
 */
public final class CredentialFiles {
    public static final String FILE = "credentials.pem";

    /** A stored credential. */
    public record Credential(KeyPair keys, X509Certificate certificate) {
    }

    private final Path dir;

    public CredentialFiles(Path dir) {
        this.dir = dir;
    }

    public Path file() {
        return dir.resolve(FILE);
    }

    public Optional<Credential> load() {
        Path f = file();
        if (!Files.exists(f)) {
            return Optional.empty();
        }
        try (PEMParser p = new PEMParser(new StringReader(Files.readString(f, StandardCharsets.US_ASCII)))) {
            PrivateKey key = null;
            java.security.PublicKey pub = null;
            X509Certificate cert = null;
            Object o;
            JcaPEMKeyConverter keys = new JcaPEMKeyConverter();
            while ((o = p.readObject()) != null) {
                if (o instanceof PrivateKeyInfo info) {
                    key = keys.getPrivateKey(info);
                } else if (o instanceof PEMKeyPair pair) {
                    KeyPair kp = keys.getKeyPair(pair);
                    key = kp.getPrivate();
                } else if (o instanceof X509CertificateHolder h) {
                    cert = new JcaX509CertificateConverter().getCertificate(h);
                    pub = cert.getPublicKey();
                }
            }
            if (key == null || cert == null) {
                throw new IllegalStateException(f + " must hold a private key and a certificate");
            }
            return Optional.of(new Credential(new KeyPair(pub, key), cert));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f, e);
        } catch (CertificateException e) {
            throw new IllegalStateException("the certificate in " + f + " cannot be read", e);
        }
    }

    /** Writes key and certificate together, owner-only, replacing the previous pair atomically. */
    public void store(KeyPair keys, X509Certificate certificate) {
        StringWriter sw = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(sw)) {
            w.writeObject(new org.bouncycastle.util.io.pem.PemObject("PRIVATE KEY", keys.getPrivate().getEncoded()));
            w.writeObject(certificate);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        writeOwnerOnly(dir, FILE, sw.toString());
    }

    /** The device's key pair for {@code device}, for a CSR. */
    public static DeviceKeys keysOf(DeviceId device, Credential c) {
        return DeviceKeys.of(device, c.keys());
    }

    /** Creates {@code dir} (mode 0700) and writes {@code name} in it with mode 0600, atomically and synced. */
    static void writeOwnerOnly(Path dir, String name, String content) {
        try {
            try {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (FileAlreadyExistsException e) {
                // a file in the way: reported by the write below
            }
            Path tmp = Files.createTempFile(dir, "." + name, ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            try {
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                    java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8));
                    while (bytes.hasRemaining()) {
                        ch.write(bytes);
                    }
                    ch.force(true); // on the storage before it replaces the old file: a power loss leaves one or the other
                }
                try {
                    Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve(name), e);
        }
    }
}
