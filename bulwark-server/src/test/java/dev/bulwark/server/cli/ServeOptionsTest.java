package dev.bulwark.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@code bulwark serve} accepts: no switch that turns payload sealing off, and no token PIN on the command line. */
class ServeOptionsTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    private static Run cli(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            int exit = BulwarkCli.run(args);
            return new Run(exit, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void serve_refuses_the_former_hidden_switch_that_stored_payloads_unencrypted_and_starts_nothing() {
        Path data = dir.resolve("data");
        Run r = cli("serve", "--insecure-plaintext-payloads", "--data", data.toString(), "--https-port", "0", "--mqtt-port", "0",
                "--device-https-port", "0", "--bind", "127.0.0.1");
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("Unknown option: '--insecure-plaintext-payloads'");
        assertThat(data).doesNotExist();
        assertThat(cli("demo", "--insecure-plaintext-payloads", "--data", data.toString()).exit()).isNotZero();
        assertThat(data).doesNotExist();
    }

    @Test
    void serve_documents_where_the_kek_lives_and_takes_the_token_pin_only_from_a_file_or_the_environment() {
        Run help = cli("serve", "--help");
        assertThat(help.out()).contains("--kek=data|file:PATH|pkcs11:CONFIG").contains("--kek-pin-file").contains("--kek-pin-env")
                .contains("BULWARK_KEK_PIN").doesNotContain("plaintext-payloads");
        Run pinOnTheCommandLine = cli("serve", "--kek", "pkcs11:/nonexistent.cfg", "--kek-pin", "1234", "--data", dir.resolve("d").toString());
        assertThat(pinOnTheCommandLine.exit()).isNotZero();
        assertThat(pinOnTheCommandLine.err()).contains("Unknown option");
    }
}
