package dev.bulwark.server.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import dev.bulwark.server.config.KekSettings;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.TestServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Where the key-encryption key lives: a file outside the data directory (created owner-only, refused when wider),
 * and a plain warning at start when it is inside the data directory, where a backup of that directory defeats
 * crypto-shredding.
 */
class KeyEncryptionKeyPlacementTest {
    @TempDir
    Path outside;
    private final Logger keksLog = (Logger) LoggerFactory.getLogger(Keks.class);
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();

    @BeforeEach
    void capture() {
        keksLog.setLevel(ch.qos.logback.classic.Level.INFO);
        keksLog.setAdditive(false);
        logged.start();
        keksLog.addAppender(logged);
    }

    @AfterEach
    void release() {
        keksLog.detachAppender(logged);
        keksLog.setLevel(ch.qos.logback.classic.Level.ERROR);
        keksLog.setAdditive(true);
    }

    private List<String> warnings() {
        return logged.list.stream().filter(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN).map(ILoggingEvent::getFormattedMessage)
                .toList();
    }

    @Test
    void a_kek_file_outside_the_data_directory_is_created_owner_only_and_its_data_reads_after_a_restart() throws Exception {
        Path kek = outside.resolve("bulwark.kek");
        try (TestServer server = TestServer.start(Backend.H2, b -> b.kek(KekSettings.file(kek)))) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(kek))).isEqualTo("rw-------");
            assertThat(Files.size(kek)).isEqualTo(32);
            assertThat(server.dataDir().resolve("keys/kek")).doesNotExist();
            assertThat(warnings()).as("no warning when the key is outside").isEmpty();
            String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
            JsonNode ada = server.api().post("/api/v1/owners", admin, Map.of("name", "Ada", "email", "ada@example.com")).json();

            server.restart();

            JsonNode read = server.api().get("/api/v1/owners/" + ada.get("id").asText(), admin).json();
            assertThat(read.path("profile").path("name").asText()).isEqualTo("Ada");
            byte[] kekBytes = Files.readAllBytes(kek);
            try (Stream<Path> files = Files.walk(server.dataDir())) {
                assertThat(files.filter(Files::isRegularFile).filter(f -> contains(f, kekBytes)).toList())
                        .as("no file of the data directory holds the key-encryption key").isEmpty();
            }
        }
    }

    @Test
    void a_kek_file_readable_by_group_or_others_is_refused_with_the_reason_and_the_fix() throws Exception {
        Path kek = outside.resolve("wide.kek");
        Files.write(kek, Secrets.randomBytes(32));
        Files.setPosixFilePermissions(kek, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> TestServer.start(Backend.H2, b -> b.kek(KekSettings.file(kek))))
                .hasMessageContaining("readable or writable by group or others").hasMessageContaining("rw-r--r--")
                .hasMessageContaining("chmod 600");
    }

    @Test
    void a_kek_inside_the_data_directory_is_warned_about_at_start_as_defeating_crypto_shredding() {
        try (TestServer server = TestServer.start(Backend.H2)) {
            assertThat(server.dataDir().resolve("keys/kek")).exists();
            assertThat(warnings()).anySatisfy(w -> assertThat(w).contains(server.dataDir().resolve("keys/kek").toString())
                    .contains("backup").contains("defeats crypto-shredding").contains("--kek file:"));
        }
    }

    @Test
    void a_data_directory_whose_kek_is_outside_does_not_start_without_it_nor_with_a_new_one() throws Exception {
        Path kek = outside.resolve("bulwark.kek");
        TestServer server = TestServer.start(Backend.H2, b -> b.kek(KekSettings.file(kek)));
        try {
            String admin = server.tenantWithOperator("acme", "root", "tenant-admin");
            server.api().post("/api/v1/owners", admin, Map.of("name", "Ada"));
            server.stop();
            refusedWithoutItsKek(server.dataDir(), kek);
        } finally {
            server.close();
        }
    }

    private void refusedWithoutItsKek(Path data, Path kek) throws Exception {
        // a copy of the data directory (a backup) started on the defaults: no silent new key over the old data keys
        assertThatThrownBy(() -> TestServer.startIn(data)).hasMessageContaining("no key-encryption key")
                .hasMessageContaining("same --kek");
        // the key file lost: refused rather than replaced
        Files.delete(kek);
        assertThatThrownBy(() -> dev.bulwark.server.BulwarkServer.start(dev.bulwark.server.config.ServerConfig.builder().dataDir(data)
                .httpsPort(0).mqttPort(0).deviceHttpsPort(0).bindAddress("127.0.0.1").kek(KekSettings.file(kek)).build()))
                .hasMessageContaining("does not exist").hasMessageContaining("refusing to create a new one");
    }

    @Test
    void a_data_directory_with_its_own_kek_is_not_switched_to_an_outside_one_silently() throws Exception {
        TestServer server = TestServer.start(Backend.H2);
        try {
            server.stop();
            Path data = server.dataDir();
            assertThatThrownBy(() -> dev.bulwark.server.BulwarkServer.start(dev.bulwark.server.config.ServerConfig.builder().dataDir(data)
                    .httpsPort(0).mqttPort(0).deviceHttpsPort(0).bindAddress("127.0.0.1").kek(KekSettings.file(outside.resolve("new.kek")))
                    .build())).hasMessageContaining("cannot switch").hasMessageContaining("keys/kek");
            assertThat(outside.resolve("new.kek")).doesNotExist();
        } finally {
            server.close();
        }
    }

    @Test
    void the_kek_option_names_its_forms_when_misspelled() {
        assertThatThrownBy(() -> KekSettings.parse("hsm:/etc/x", null, null, null)).hasMessageContaining("file:/path/to/kek")
                .hasMessageContaining("pkcs11:/path/to/provider.cfg");
        assertThat(KekSettings.parse("pkcs11:/etc/p11.cfg", null, null, null).pinEnv()).isEqualTo("BULWARK_KEK_PIN");
    }

    private static boolean contains(Path f, byte[] needle) {
        try {
            byte[] hay = Files.readAllBytes(f);
            outer:
            for (int i = 0; i + needle.length <= hay.length; i++) {
                for (int j = 0; j < needle.length; j++) {
                    if (hay[i + j] != needle[j]) {
                        continue outer;
                    }
                }
                return true;
            }
            return false;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
