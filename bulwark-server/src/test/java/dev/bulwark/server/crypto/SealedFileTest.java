package dev.bulwark.server.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.server.config.DataDir;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A sealed file reads back whole, or not at all: cut short, chunks swapped, moved to another context, key destroyed. */
class SealedFileTest {
    private static final byte[] CONTEXT = "export/ex-0123456789abcdef".getBytes(StandardCharsets.UTF_8);
    @TempDir
    Path dir;
    DataKeys keys;
    String keyId;
    byte[] plaintext;
    Path file;

    @BeforeEach
    void sealThreeChunks() throws Exception {
        DataDir data = new DataDir(dir.resolve("data"));
        keys = new DataKeys(data, FileKek.loadOrCreate(data));
        keyId = keys.create();
        plaintext = new byte[2 * SealedFile.CHUNK + 1000];
        for (int i = 0; i < plaintext.length; i++) {
            plaintext[i] = (byte) ('a' + i % 26);
        }
        file = dir.resolve("x.sealed");
        try (OutputStream out = SealedFile.create(file, keys, keyId, CONTEXT)) {
            out.write(plaintext, 0, 10);
            out.write(plaintext, 10, plaintext.length - 10);
        }
    }

    private byte[] read(byte[] context) throws Exception {
        try (InputStream in = SealedFile.open(file, keys, context)) {
            return in.readAllBytes();
        }
    }

    @Test
    void a_sealed_file_is_owner_only_holds_no_plaintext_and_reads_back_whole() throws Exception {
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1)).doesNotContain("abcdefghij");
        assertThat(SealedFile.keyId(file)).isEqualTo(keyId);
        assertThat(read(CONTEXT)).isEqualTo(plaintext);
    }

    @Test
    void a_sealed_file_cut_short_before_its_last_chunk_is_refused() throws Exception {
        byte[] all = Files.readAllBytes(file);
        int header = 4 + 1 + 1 + keyId.length();
        int first = 4 + (ByteBuffer.wrap(all, header, 4).getInt() & 0x7fff_ffff);
        int second = 4 + (ByteBuffer.wrap(all, header + first, 4).getInt() & 0x7fff_ffff);
        Files.write(file, Arrays.copyOf(all, header + first + second)); // the last chunk dropped
        assertThatThrownBy(() -> read(CONTEXT)).hasMessageContaining("cut short");
    }

    @Test
    void a_sealed_file_with_two_chunks_swapped_is_refused() throws Exception {
        byte[] all = Files.readAllBytes(file);
        int header = 4 + 1 + 1 + keyId.length();
        int first = 4 + (ByteBuffer.wrap(all, header, 4).getInt() & 0x7fff_ffff);
        int second = 4 + (ByteBuffer.wrap(all, header + first, 4).getInt() & 0x7fff_ffff);
        ByteBuffer swapped = ByteBuffer.allocate(all.length).put(all, 0, header).put(all, header + first, second).put(all, header, first)
                .put(all, header + first + second, all.length - header - first - second);
        Files.write(file, swapped.array());
        assertThatThrownBy(() -> read(CONTEXT)).hasMessageContaining("does not open");
    }

    @Test
    void a_sealed_file_moved_to_another_context_or_whose_key_was_destroyed_opens_nothing() throws Exception {
        assertThatThrownBy(() -> read("export/ex-ffffffffffffffff".getBytes(StandardCharsets.UTF_8))).hasMessageContaining("does not open");
        assertThat(keys.destroy(keyId).destroyed()).isTrue();
        assertThatThrownBy(() -> read(CONTEXT)).hasMessageContaining("does not open");
    }
}
