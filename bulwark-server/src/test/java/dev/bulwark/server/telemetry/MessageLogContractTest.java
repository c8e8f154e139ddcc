package dev.bulwark.server.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.store.Database;
import dev.bulwark.server.testkit.Backend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The contract of a telemetry log ({@link MessageLog}), run on each log and each database it uses: the file
 * log (the embedded database's node, H2) and the database log on H2 and on PostgreSQL.
 *
 * <p>A batch is acknowledged when {@code append} returns, and only then: what was appended is found by the
 * next start ({@code recover} on a new log over the same files and database, as after a crash), in order,
 * intact; an append that failed is not found; a record torn by a crash (for the file log: the tail of the file
 * cut or damaged; for the database log: a transaction that never committed) is ignored, the intact records
 * before it are all there, and appending goes on after it. Released batches (moved into segments) are not
 * recovered again; a release whose transaction rolled back releases nothing.
 */
@ParameterizedClass
@EnumSource(MessageLogContractTest.Kind.class)
class MessageLogContractTest {

    /** The logs under contract. */
    enum Kind {
        FILE_ON_H2(Backend.H2),
        DATABASE_ON_H2(Backend.H2),
        DATABASE_ON_POSTGRESQL(Backend.POSTGRESQL);

        final Backend backend;

        Kind(Backend backend) {
            this.backend = backend;
        }
    }

    @Parameter
    Kind kind;

    @TempDir
    Path dir;

    DataDir data;
    String url;
    Database db;
    MessageLog log;
    final List<MessageLog> opened = new ArrayList<>();

    @BeforeEach
    void open() {
        data = new DataDir(dir);
        url = kind.backend.freshDatabase();
        db = Database.open(url, data);
        log = newLog();
    }

    @AfterEach
    void close() {
        opened.forEach(MessageLog::close);
        if (db != null) {
            db.close();
        }
        Backend.drop(url);
    }

    private MessageLog newLog() {
        MessageLog l = kind == Kind.FILE_ON_H2 ? new FileLog(data.dir("telemetry-log"), db) : new DatabaseLog(db);
        opened.add(l);
        return l;
    }

    /** The next start after a crash: a new log over the same files and database, without closing the old one. */
    private List<MessageLog.Batch> restart() {
        log = newLog();
        return db.read(log::recover);
    }

    private static StoredMessage draft(String device, int n, byte[] payload) {
        return new StoredMessage("acme", device, "telemetry", 0, 1_700_000_000_000L + n, 1, "mqtt", "127.0.0.1:1", "c-" + device,
                null, payload);
    }

    private static List<StoredMessage> drafts(String device, int from, int count) {
        List<StoredMessage> out = new ArrayList<>();
        for (int i = from; i < from + count; i++) {
            out.add(draft(device, i, ("{\"n\":" + i + "}").getBytes(StandardCharsets.UTF_8)));
        }
        return out;
    }

    private static List<String> payloads(List<MessageLog.Batch> batches) {
        List<String> out = new ArrayList<>();
        for (MessageLog.Batch b : batches) {
            for (StoredMessage m : b.messages()) {
                out.add(m.deviceId() + ":" + new String(m.payload(), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    private static List<Long> seqs(List<MessageLog.Batch> batches) {
        return batches.stream().flatMap(b -> b.messages().stream()).map(StoredMessage::seq).toList();
    }

    @Test
    void what_append_returned_is_recovered_after_a_crash_in_order_and_intact() throws Exception {
        assertThat(db.read(log::recover)).isEmpty();
        MessageLog.Batch first = log.append(drafts("meter-1", 1, 3));
        MessageLog.Batch second = log.append(List.of(draft("meter-2", 1, new byte[] {0, 1, 2, (byte) 0xff}), draft("meter-1", 4,
                "{\"n\":4}".getBytes(StandardCharsets.UTF_8))));
        List<Long> acknowledged = seqs(List.of(first, second));
        assertThat(acknowledged).as("sequence numbers increase in commit order").isSorted().doesNotHaveDuplicates();

        List<MessageLog.Batch> recovered = restart();
        assertThat(seqs(recovered)).isEqualTo(acknowledged);
        assertThat(payloads(recovered)).containsExactly("meter-1:{\"n\":1}", "meter-1:{\"n\":2}", "meter-1:{\"n\":3}",
                "meter-2:" + new String(new byte[] {0, 1, 2, (byte) 0xff}, StandardCharsets.UTF_8), "meter-1:{\"n\":4}");
        assertThat(recovered.get(1).messages().get(0).payload()).containsExactly(0, 1, 2, 0xff);

        // appending goes on after what was recovered, never reusing a sequence number
        MessageLog.Batch third = log.append(drafts("meter-1", 5, 1));
        assertThat(third.messages().get(0).seq()).isGreaterThan(acknowledged.get(acknowledged.size() - 1));
        assertThat(seqs(restart())).containsExactlyElementsOf(seqs(List.of(first, second, third)));
    }

    @Test
    void an_append_that_failed_was_not_acknowledged_and_is_not_recovered() throws Exception {
        MessageLog.Batch kept = log.append(drafts("meter-1", 1, 2));
        // a batch that fails part-way (a message that cannot be encoded, after more than a log block of others):
        // the append throws, so nothing of it is acknowledged, and nothing of it may come back
        List<StoredMessage> failing = new ArrayList<>();
        failing.add(draft("meter-1", 3, new byte[DatabaseLog.BLOCK_BYTES + 1]));
        failing.add(new StoredMessage("acme", "meter-1", "telemetry", 0, 4, 1, "mqtt", null, "c", null, new byte[1]));
        assertThatThrownBy(() -> log.append(failing)).isInstanceOf(RuntimeException.class);
        MessageLog.Batch after = log.append(drafts("meter-1", 5, 1));

        assertThat(payloads(restart())).containsExactly("meter-1:{\"n\":1}", "meter-1:{\"n\":2}", "meter-1:{\"n\":5}");
        assertThat(seqs(db.read(newLog()::recover))).containsExactlyElementsOf(seqs(List.of(kept, after)));
    }

    @Test
    void a_torn_record_is_ignored_the_intact_ones_before_it_are_all_there_and_appending_goes_on() throws Exception {
        MessageLog.Batch one = log.append(drafts("meter-1", 1, 2));
        MessageLog.Batch two = log.append(drafts("meter-1", 3, 2));
        tear(drafts("meter-1", 5, 2));

        List<MessageLog.Batch> recovered = restart();
        assertThat(payloads(recovered)).containsExactly("meter-1:{\"n\":1}", "meter-1:{\"n\":2}", "meter-1:{\"n\":3}", "meter-1:{\"n\":4}");
        assertThat(seqs(recovered)).containsExactlyElementsOf(seqs(List.of(one, two)));

        MessageLog.Batch next = log.append(drafts("meter-1", 7, 1));
        assertThat(next.messages().get(0).seq()).isGreaterThan(two.messages().get(1).seq());
        assertThat(payloads(restart())).containsExactly("meter-1:{\"n\":1}", "meter-1:{\"n\":2}", "meter-1:{\"n\":3}", "meter-1:{\"n\":4}",
                "meter-1:{\"n\":7}");
    }

    @Test
    void a_damaged_record_at_the_tail_is_ignored_and_what_precedes_it_is_recovered() throws Exception {
        MessageLog.Batch one = log.append(drafts("meter-1", 1, 3));
        damageTail(drafts("meter-1", 4, 3));
        assertThat(seqs(restart())).containsExactlyElementsOf(seqs(List.of(one)));
        log.append(drafts("meter-1", 7, 1));
        assertThat(payloads(restart())).containsExactly("meter-1:{\"n\":1}", "meter-1:{\"n\":2}", "meter-1:{\"n\":3}", "meter-1:{\"n\":7}");
    }

    @Test
    void released_batches_are_not_recovered_and_a_release_that_rolled_back_releases_nothing() throws Exception {
        MessageLog.Batch one = log.append(drafts("meter-1", 1, 2));
        MessageLog.Batch two = log.append(drafts("meter-1", 3, 2));
        MessageLog.Batch three = log.append(drafts("meter-1", 5, 2));

        // a compaction whose transaction fails after the release: the batches stay in the log
        assertThatThrownBy(() -> db.tx(h -> {
            log.release(h, List.of(one, two));
            throw new IllegalStateException("the compaction's transaction fails");
        })).hasMessageContaining("fails");
        assertThat(seqs(db.read(newLog()::recover))).containsExactlyElementsOf(seqs(List.of(one, two, three)));

        db.tx(h -> {
            log.release(h, List.of(one, two));
            return null;
        });
        log.afterRelease();
        assertThat(seqs(restart())).containsExactlyElementsOf(seqs(List.of(three)));
    }

    /**
     * What a crash during an append leaves behind. The file log: the record written, then its tail cut off before
     * the sync returned. The database log: the block inserted in a transaction that never committed.
     */
    private void tear(List<StoredMessage> drafts) throws Exception {
        if (kind == Kind.FILE_ON_H2) {
            log.append(drafts);
            Path last = lastLogFile();
            try (FileChannel ch = FileChannel.open(last, StandardOpenOption.WRITE)) {
                ch.truncate(ch.size() - 5);
            }
        } else {
            uncommittedBlock(drafts);
        }
    }

    /** A whole last record whose content no longer matches its checksum (file), or an uncommitted block (database). */
    private void damageTail(List<StoredMessage> drafts) throws Exception {
        if (kind == Kind.FILE_ON_H2) {
            log.append(drafts);
            Path last = lastLogFile();
            try (FileChannel ch = FileChannel.open(last, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.allocate(1);
                long at = ch.size() - 3;
                ch.read(b, at);
                b.flip();
                byte flipped = (byte) (b.get(0) ^ 0x5a);
                ch.write(ByteBuffer.wrap(new byte[] {flipped}), at);
            }
        } else {
            uncommittedBlock(drafts);
        }
    }

    private void uncommittedBlock(List<StoredMessage> drafts) {
        MessageCodec.Buffer block = new MessageCodec.Buffer(1 << 16);
        block.begin(MessageCodec.LOG_FORMAT);
        drafts.forEach(d -> MessageCodec.appendLog(block, d));
        byte[] body = block.toByteArray();
        assertThatThrownBy(() -> db.tx(h -> {
            h.createUpdate("INSERT INTO telemetry_log (body) VALUES (:b)").bind("b", body).execute();
            throw new IllegalStateException("the process dies before the commit");
        })).hasMessageContaining("dies");
    }

    private Path lastLogFile() throws IOException {
        try (Stream<Path> files = Files.list(dir.resolve("telemetry-log"))) {
            return files.filter(p -> p.getFileName().toString().endsWith(".log")).sorted().reduce((a, b) -> b).orElseThrow();
        }
    }
}
