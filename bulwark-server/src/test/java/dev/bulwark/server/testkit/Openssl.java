package dev.bulwark.server.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real {@code openssl} command line, as a device maker would, to make keys, CSRs and
 * certificates for tests. Keys stay in a temporary directory and are never printed.
 */
public final class Openssl {
    private final Path dir;

    public Openssl(Path dir) {
        this.dir = dir;
    }

    public static Openssl inTempDir() {
        try {
            return new Openssl(Files.createTempDirectory("bulwark-openssl-"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public Path dir() {
        return dir;
    }

    public Path file(String name) {
        return dir.resolve(name);
    }

    public String read(String name) {
        try {
            return Files.readString(dir.resolve(name));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Runs openssl with the arguments in the working directory; fails the test on a non-zero exit. */
    public String run(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add("openssl");
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("openssl " + String.join(" ", args) + " failed: " + out);
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A P-256 key and a CSR with the given subject (e.g. {@code /CN=thermo-0001}); returns the CSR PEM. */
    public String p256Csr(String name, String subject) {
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-subj", subject, "-out", name + ".csr");
        return read(name + ".csr");
    }

    /** A CSR for an existing key file. */
    public String csrForKey(String name, String keyFile, String subject, String... extra) {
        List<String> args = new ArrayList<>(List.of("req", "-new", "-key", keyFile, "-subj", subject, "-out", name + ".csr"));
        args.addAll(List.of(extra));
        run(args.toArray(String[]::new));
        return read(name + ".csr");
    }
}
