package dev.bulwark.server.cli;

import dev.bulwark.protocol.firmware.Envelope;
import dev.bulwark.protocol.firmware.FirmwareMetadata;
import dev.bulwark.protocol.firmware.ReleaseKeys;
import dev.bulwark.server.config.DataDir;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.Callable;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;
import org.bouncycastle.util.io.pem.PemWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code bulwark firmware}: the publisher's side of firmware signing, run where the release keys live
 * (never on the server). Private keys are written readable by their owner only.
 */
@Command(name = "firmware", mixinStandardHelpOptions = true,
        description = "Release keys and signed firmware metadata, on the publisher's workstation.",
        subcommands = {FirmwareCommand.Keygen.class, FirmwareCommand.Root.class, FirmwareCommand.RotateRoot.class, FirmwareCommand.Sign.class,
                FirmwareCommand.Cosign.class, CommandLine.HelpCommand.class})
public final class FirmwareCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "keygen", mixinStandardHelpOptions = true, description = "Make an Ed25519 release key: NAME.key (0600) and NAME.pub.")
    static final class Keygen implements Callable<Integer> {
        @Option(names = "--out", required = true, description = "Directory for the key files")
        Path out;

        @Option(names = "--name", required = true, description = "Key name, e.g. alice")
        String name;

        @Override
        public Integer call() throws IOException {
            if (!name.matches("[A-Za-z0-9._-]{1,64}")) {
                throw new IllegalArgumentException("--name: 1-64 characters of [A-Za-z0-9._-]");
            }
            Path key = out.resolve(name + ".key");
            if (Files.exists(key)) {
                throw new IllegalArgumentException(key + " exists; a release key is never overwritten");
            }
            KeyPair kp = ReleaseKeys.generate();
            DataDir.writeSecret(key, pem("PRIVATE KEY", kp.getPrivate().getEncoded()));
            Files.createDirectories(out);
            Files.writeString(out.resolve(name + ".pub"), pem("PUBLIC KEY", kp.getPublic().getEncoded()));
            System.out.println("key id " + ReleaseKeys.keyId(kp.getPublic()) + ": private key " + key + " (owner-only), public key "
                    + out.resolve(name + ".pub"));
            return 0;
        }
    }

    @Command(name = "root", description = "Write a tenant's first root (then cosign it with k release keys).")
    static final class Root implements Callable<Integer> {
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help.")
        boolean help;

        @Option(names = "--tenant", required = true)
        String tenant;

        @Option(names = "--release-key", required = true, description = "Release public key file (repeat for each key)")
        List<Path> releaseKeys;

        @Option(names = "--threshold", required = true, description = "Signatures a release needs")
        int threshold;

        @Option(names = "--timestamp-key", required = true,
                description = "The server's timestamp key: the 'public' value of GET /api/v1/firmware/timestamp-key")
        String timestampKey;

        @Option(names = "--version", defaultValue = "1", description = "Root version (default: ${DEFAULT-VALUE})")
        long version;

        @Option(names = "--expires-days", defaultValue = "365")
        int expiresDays;

        @Option(names = "--out", required = true)
        Path out;

        @Override
        public Integer call() throws IOException {
            List<PublicKey> keys = readPublic(releaseKeys);
            PublicKey ts = ReleaseKeys.fromRaw(Base64.getDecoder().decode(timestampKey.trim()));
            Envelope e = Envelope.unsigned(FirmwareMetadata.root(tenant, version, expires(expiresDays), keys, threshold, List.of(ts)));
            Files.write(out, e.toJson());
            System.out.println("root version " + version + " for " + tenant + " written to " + out + "; sign it with "
                    + "'bulwark firmware cosign --key K " + out + "' (" + threshold + " release keys)");
            return 0;
        }
    }

    @Command(name = "rotate-root", mixinStandardHelpOptions = true,
            description = "Write the next root after --previous; it must then be cosigned by the previous root's threshold and its own.")
    static final class RotateRoot implements Callable<Integer> {
        @Option(names = "--previous", required = true, description = "The current root (JSON)")
        Path previous;

        @Option(names = "--release-key", required = true, description = "Release public key file of the new root (repeat)")
        List<Path> releaseKeys;

        @Option(names = "--threshold", required = true)
        int threshold;

        @Option(names = "--timestamp-key", required = true)
        String timestampKey;

        @Option(names = "--expires-days", defaultValue = "365")
        int expiresDays;

        @Option(names = "--out", required = true)
        Path out;

        @Override
        public Integer call() throws IOException {
            Envelope prev = Envelope.parse(Files.readAllBytes(previous));
            List<PublicKey> keys = readPublic(releaseKeys);
            long version = prev.signed().path("version").asLong() + 1;
            Envelope e = Envelope.unsigned(FirmwareMetadata.root(prev.signed().path("tenant").asText(), version, expires(expiresDays), keys,
                    threshold, List.of(ReleaseKeys.fromRaw(Base64.getDecoder().decode(timestampKey.trim())))));
            Files.write(out, e.toJson());
            System.out.println("root version " + version + " written to " + out + "; cosign it with the previous root's threshold of keys "
                    + "and with this root's own");
            return 0;
        }
    }

    @Command(name = "sign", description = "Describe a firmware image and sign the description (targets).")
    static final class Sign implements Callable<Integer> {
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help.")
        boolean help;

        @Option(names = "--key", required = true, description = "Release private key file")
        Path key;

        @Option(names = "--tenant", required = true)
        String tenant;

        @Option(names = "--model", required = true)
        String model;

        @Option(names = "--hardware", required = true, description = "Compatible hardware revision (repeat)")
        List<String> hardware;

        @Option(names = "--version", required = true, description = "Version string, e.g. 1.4.2")
        String version;

        @Option(names = "--version-number", required = true, description = "Monotonic version number; devices refuse anything not above theirs")
        long versionNumber;

        @Option(names = "--image", required = true)
        Path image;

        @Option(names = "--expires-days", defaultValue = "90")
        int expiresDays;

        @Option(names = "--out", required = true)
        Path out;

        @Override
        public Integer call() throws IOException {
            byte[] img = Files.readAllBytes(image);
            PrivateKey k = readPrivate(key);
            Envelope e = Envelope.unsigned(FirmwareMetadata.targets(tenant, model, hardware, version, versionNumber,
                    ReleaseKeys.sha256Hex(img), img.length, expires(expiresDays)));
            e = e.sign(k, keyIdOf(key));
            Files.write(out, e.toJson());
            System.out.println("targets for " + model + " " + version + " (" + img.length + " bytes) signed with key " + keyIdOf(key)
                    + " and written to " + out);
            return 0;
        }
    }

    @Command(name = "cosign", mixinStandardHelpOptions = true, description = "Add a signature to a root or targets file, in place.")
    static final class Cosign implements Callable<Integer> {
        @Option(names = "--key", required = true, description = "Release private key file")
        Path key;

        @Parameters(index = "0", description = "The root or targets file")
        Path file;

        @Override
        public Integer call() throws IOException {
            Envelope e = Envelope.parse(Files.readAllBytes(file)).sign(readPrivate(key), keyIdOf(key));
            Files.write(file, e.toJson());
            System.out.println(file + " now carries " + e.signatures().size() + " signature(s)");
            return 0;
        }
    }

    private static Instant expires(int days) {
        return Instant.now().plus(Duration.ofDays(days)).truncatedTo(ChronoUnit.SECONDS);
    }

    static String pem(String type, byte[] der) throws IOException {
        StringWriter sw = new StringWriter();
        try (PemWriter w = new PemWriter(sw)) {
            w.writeObject(new PemObject(type, der));
        }
        return sw.toString();
    }

    private static byte[] readPem(Path p, String type) throws IOException {
        try (PemReader r = new PemReader(new StringReader(Files.readString(p, StandardCharsets.US_ASCII)))) {
            PemObject o = r.readPemObject();
            if (o == null || !o.getType().equals(type)) {
                throw new IllegalArgumentException(p + " holds no " + type);
            }
            return o.getContent();
        }
    }

    static PrivateKey readPrivate(Path p) throws IOException {
        return ReleaseKeys.privateFromPkcs8(readPem(p, "PRIVATE KEY"));
    }

    static List<PublicKey> readPublic(List<Path> files) throws IOException {
        List<PublicKey> keys = new ArrayList<>();
        for (Path p : files) {
            keys.add(readPublic(p));
        }
        return keys;
    }

    static PublicKey readPublic(Path p) throws IOException {
        return ReleaseKeys.publicFromX509(readPem(p, "PUBLIC KEY"));
    }

    /** The key id of a private key file, from its public half next to it ({@code NAME.pub}). */
    static String keyIdOf(Path privateKey) throws IOException {
        String name = privateKey.getFileName().toString().replaceAll("\\.key$", "");
        Path pub = privateKey.resolveSibling(name + ".pub");
        if (!Files.exists(pub)) {
            throw new IllegalArgumentException("the public key " + pub + " must sit next to " + privateKey);
        }
        return ReleaseKeys.keyId(readPublic(pub));
    }
}
