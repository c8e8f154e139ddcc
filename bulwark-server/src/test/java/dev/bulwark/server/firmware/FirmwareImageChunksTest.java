package dev.bulwark.server.firmware;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.crypto.FileKek;
import dev.bulwark.server.crypto.KeyWrapper;
import dev.bulwark.server.crypto.Secrets;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Stored images read range by range: chunks are bound to their position (swapped chunks are refused), and a
 * release stored before images were chunked (one AES-GCM message) is still served.
 */
@ParameterizedClass
@EnumSource(value = Backend.class, names = "H2")
class FirmwareImageChunksTest extends NodePerTest {
    /** A key wrapper of the test's own (the service only needs the two calls). */
    static final byte[] KEK = Secrets.randomBytes(32);
    static final KeyWrapper WRAPPER = new KeyWrapper() {
        @Override
        public byte[] wrap(byte[] dataKey, byte[] context) {
            byte[] nonce = Secrets.randomBytes(12);
            byte[] sealed = FileKek.Aead.encrypt(KEK, nonce, dataKey, context);
            byte[] out = Arrays.copyOf(nonce, 12 + sealed.length);
            System.arraycopy(sealed, 0, out, 12, sealed.length);
            return out;
        }

        @Override
        public byte[] unwrap(byte[] wrapped, byte[] context) {
            return FileKek.Aead.decrypt(KEK, Arrays.copyOf(wrapped, 12), Arrays.copyOfRange(wrapped, 12, wrapped.length), context);
        }
    };

    FirmwareService firmware;
    byte[] image;

    @BeforeEach
    void start() throws Exception {
        server.tenantWithOperator("acme", "root", "tenant-admin");
        firmware = new FirmwareService(new DataDir(Files.createTempDirectory("bulwark-fw-service-")), WRAPPER, new FirmwareStore());
        image = new byte[3 * FirmwareService.CHUNK + 100];
        ThreadLocalRandom.current().nextBytes(image);
    }

    private void insertRelease(String id, byte[] wrapped, byte[] nonce, byte[] whole, Integer chunkSize) {
        server.sql(h -> h.createUpdate("INSERT INTO firmware_releases (id, tenant_id, model, version, version_number, sha256, length, targets, "
                        + "wrapped_key, nonce, image, chunk_size, created_ms, created_by) VALUES (:id, 'acme', 'thermo', '1.0', :vn, 'x', :len, "
                        + "'{}', :wk, :n, :img, :cs, 0, 'test')")
                .bind("id", id).bind("vn", id.hashCode()).bind("len", image.length).bind("wk", wrapped).bind("n", nonce).bind("img", whole)
                .bind("cs", chunkSize).execute());
    }

    /** A release sealed as the upload seals it, chunk by chunk. */
    private String chunked(String id) {
        byte[] dataKey = Secrets.randomBytes(32);
        byte[] nonce = Secrets.randomBytes(12);
        insertRelease(id, WRAPPER.wrap(dataKey, id.getBytes(StandardCharsets.UTF_8)), nonce, new byte[0], FirmwareService.CHUNK);
        int chunks = FirmwareService.chunkCount(image.length);
        for (int i = 0; i < chunks; i++) {
            byte[] plain = Arrays.copyOfRange(image, i * FirmwareService.CHUNK, Math.min(image.length, (i + 1) * FirmwareService.CHUNK));
            byte[] sealed = FileKek.Aead.encrypt(dataKey, FirmwareService.chunkNonce(nonce, i), plain, FirmwareService.chunkAad(id, i, chunks));
            int idx = i;
            server.sql(h -> h.createUpdate("INSERT INTO firmware_image_chunks (release_id, idx, sealed) VALUES (:r, :i, :s)")
                    .bind("r", id).bind("i", idx).bind("s", sealed).execute());
        }
        return id;
    }

    private byte[] read(String id, long from, long to) {
        return server.sql(h -> {
            try (FirmwareService.Image img = firmware.openImage(h, TenantId.of("acme"), id)) {
                return img.read(h, from, to);
            }
        });
    }

    @Test
    void ranges_are_read_from_the_chunks_that_hold_them() {
        String id = chunked("fw-00000000000000c1");
        assertThat(read(id, 0, image.length - 1)).isEqualTo(image);
        long boundary = FirmwareService.CHUNK;
        assertThat(read(id, boundary - 3, boundary + 2)).isEqualTo(Arrays.copyOfRange(image, (int) boundary - 3, (int) boundary + 3));
        assertThat(read(id, image.length - 1, image.length - 1)).containsExactly(image[image.length - 1]);
    }

    @Test
    void chunks_swapped_in_storage_are_refused() {
        String id = chunked("fw-00000000000000c2");
        server.sql(h -> h.createUpdate("UPDATE firmware_image_chunks SET idx = CASE idx WHEN 1 THEN 2 WHEN 2 THEN 1 END "
                + "WHERE release_id = :r AND idx IN (1, 2)").bind("r", id).execute());
        assertThat(read(id, 0, FirmwareService.CHUNK - 1)).isEqualTo(Arrays.copyOf(image, FirmwareService.CHUNK)); // chunk 0 untouched
        assertThatThrownBy(() -> read(id, FirmwareService.CHUNK, FirmwareService.CHUNK + 10)).isInstanceOf(IllegalStateException.class);
        server.sql(h -> h.createUpdate("DELETE FROM firmware_image_chunks WHERE release_id = :r AND idx = 3").bind("r", id).execute());
        assertThatThrownBy(() -> read(id, image.length - 10, image.length - 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("missing chunks");
    }

    @Test
    void a_release_stored_before_chunking_is_still_served() {
        String id = "fw-00000000000000a1";
        byte[] dataKey = Secrets.randomBytes(32);
        byte[] nonce = Secrets.randomBytes(12);
        byte[] aad = id.getBytes(StandardCharsets.UTF_8);
        insertRelease(id, WRAPPER.wrap(dataKey, aad), nonce, FileKek.Aead.encrypt(dataKey, nonce, image, aad), null);
        assertThat(read(id, 10, 20)).isEqualTo(Arrays.copyOfRange(image, 10, 21));
        byte[] whole = server.sql(h -> firmware.image(h, TenantId.of("acme"), id));
        assertThat(whole).isEqualTo(image);
    }
}
