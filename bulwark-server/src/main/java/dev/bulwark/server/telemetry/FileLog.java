package dev.bulwark.server.telemetry;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The log of the embedded database's node: files in {@code <data>/telemetry-log/} (owner-only), one record
 * per batch, written with one system call and synced to the disk ({@code fdatasync}) before the batch is
 * acknowledged. A record is {@code length(4) | crc32c(4) | firstSeq(8) | log block}; the CRC covers the
 * sequence number and the block, so a record torn by a crash is recognized and ignored (it was never
 * acknowledged: its sync had not returned).
 *
 * <p>The compactor records the last sequence number it moved into segments in {@code telemetry_checkpoint},
 * in the same transaction as the segments; then the database file is synced and the files wholly below the
 * checkpoint are deleted. A new file is started at every checkpoint, so files live about a second. Sequence
 * numbers continue from the highest one stored, across restarts.
 */
public final class FileLog implements MessageLog {
    private static final Logger LOG = LoggerFactory.getLogger(FileLog.class);
    private static final int HEADER = 16;
    private static final long ROTATE_BYTES = 64L << 20;

    private final Path dir;
    private final dev.bulwark.server.store.Database db;
    private final MessageCodec.Buffer block = new MessageCodec.Buffer(1 << 20);
    private final CRC32C crc = new CRC32C();
    private ByteBuffer out = ByteBuffer.allocateDirect(1 << 20);
    private FileChannel file;
    private long fileBytes;
    private long nextSeq = 1;
    private volatile boolean rotate;
    /** The first sequence number of each file, oldest first (the writer adds, the compactor removes). */
    private final java.util.concurrent.ConcurrentLinkedDeque<Long> files = new java.util.concurrent.ConcurrentLinkedDeque<>();
    private volatile long checkpoint;
    private volatile long released;

    public FileLog(Path dir, dev.bulwark.server.store.Database db) {
        this.dir = dir;
        this.db = db;
    }

    private static String name(long firstSeq) {
        return String.format("%019d.log", firstSeq);
    }

    @Override
    public synchronized Batch append(List<StoredMessage> drafts) throws IOException {
        if (file == null || rotate || fileBytes >= ROTATE_BYTES) {
            open();
        }
        try {
            return write(drafts);
        } catch (IOException | RuntimeException e) {
            // nothing of this batch is acknowledged; cut what may have reached the file and continue in a new file
            // under new sequence numbers, so that a torn record never sits in front of acknowledged ones
            try {
                file.truncate(fileBytes);
                file.force(false);
            } catch (IOException | RuntimeException ignored) {
                // the file is abandoned below either way
            }
            try {
                file.close();
            } catch (IOException ignored) {
                // abandoned
            }
            file = null;
            nextSeq += drafts.size();
            throw e;
        }
    }

    private Batch write(List<StoredMessage> drafts) throws IOException {
        long first = nextSeq;
        List<StoredMessage> stored = new ArrayList<>(drafts.size());
        block.begin(MessageCodec.LOG_FORMAT);
        for (int i = 0; i < drafts.size(); i++) {
            StoredMessage d = drafts.get(i);
            MessageCodec.appendLog(block, d);
            stored.add(d.withSeq(first + i));
        }
        int length = 8 + block.size();
        if (out.capacity() < HEADER + block.size()) {
            out = ByteBuffer.allocateDirect(Integer.highestOneBit(HEADER + block.size()) << 1);
        }
        out.clear();
        out.putInt(length).putInt(0).putLong(first);
        out.put(block.bytes(), 0, block.size());
        crc.reset();
        out.flip();
        out.position(8);
        crc.update(out);
        out.putInt(4, (int) crc.getValue());
        out.position(0);
        while (out.hasRemaining()) {
            file.write(out);
        }
        file.force(false);
        fileBytes += HEADER + block.size();
        nextSeq = first + drafts.size();
        return new Batch(stored, new long[] {first + drafts.size() - 1});
    }

    private synchronized void open() throws IOException {
        if (file != null) {
            file.close();
        }
        Path f = dir.resolve(name(nextSeq));
        // a file of this name can exist only empty or torn (its records would have raised nextSeq): start it over
        file = FileChannel.open(f, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        // the directory entry of the new file must survive a crash too
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
        if (files.isEmpty() || files.peekLast() != nextSeq) {
            files.add(nextSeq);
        }
        fileBytes = 0;
        rotate = false;
    }

    @Override
    public void release(Handle h, List<Batch> batches) {
        long upTo = batches.get(batches.size() - 1).lastSeq();
        if (h.createUpdate("UPDATE telemetry_checkpoint SET seq = :s WHERE id = 1").bind("s", upTo).execute() == 0) {
            h.createUpdate("INSERT INTO telemetry_checkpoint (id, seq) VALUES (1, :s)").bind("s", upTo).execute();
        }
        released = upTo; // takes effect once the transaction committed (afterRelease)
    }

    @Override
    public void afterRelease() {
        // the segments and the checkpoint must be on disk before the records they replace are deleted
        db.read(h -> h.execute("CHECKPOINT SYNC"));
        checkpoint = released;
        rotate = true;
        synchronized (this) {
            // everything written is in segments: the current file goes too (an idle node keeps no copy behind)
            if (file != null && nextSeq - 1 <= checkpoint) {
                try {
                    file.close();
                } catch (IOException e) {
                    LOG.warn("closing a compacted telemetry log file: {}", e.toString());
                }
                file = null;
                Long current = files.pollLast();
                if (current != null) {
                    try {
                        Files.deleteIfExists(dir.resolve(name(current)));
                    } catch (IOException e) {
                        LOG.warn("cannot delete a compacted telemetry log file: {}", e.toString());
                    }
                }
            }
        }
        // a file can go when the next one starts at or below the checkpoint + 1 (all its records are compacted)
        while (files.size() > 1) {
            Long first = files.peekFirst();
            Long next = files.stream().skip(1).findFirst().orElse(null);
            if (next == null || next - 1 > checkpoint) {
                break;
            }
            files.pollFirst();
            try {
                Files.deleteIfExists(dir.resolve(name(first)));
            } catch (IOException e) {
                LOG.warn("cannot delete a compacted telemetry log file: {}", e.toString());
            }
        }
    }

    @Override
    public List<Batch> recover(Handle h) {
        long done = h.createQuery("SELECT seq FROM telemetry_checkpoint WHERE id = 1").mapTo(Long.class).findOne().orElse(0L);
        long stored = h.createQuery("SELECT COALESCE(MAX(last_seq), 0) FROM telemetry_segments").mapTo(Long.class).one();
        checkpoint = done;
        long max = Math.max(done, stored);
        List<Batch> out = new ArrayList<>();
        List<Path> found;
        try (Stream<Path> s = Files.list(dir)) {
            found = s.filter(p -> p.getFileName().toString().matches("\\d{19}\\.log")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (Path f : found) {
            files.add(Long.parseLong(f.getFileName().toString().substring(0, 19)));
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                ByteBuffer head = ByteBuffer.allocate(HEADER);
                while (true) {
                    head.clear();
                    if (readFully(ch, head) < HEADER) {
                        break; // end of file, or a header torn by a crash
                    }
                    head.flip();
                    int length = head.getInt();
                    int sum = head.getInt();
                    long first = head.getLong();
                    if (length < 9 || length - 8 > ch.size() - ch.position()) {
                        break; // a header torn by a crash, or garbage: nothing acknowledged follows it in this file
                    }
                    ByteBuffer body = ByteBuffer.allocate(length - 8);
                    if (readFully(ch, body) < length - 8) {
                        break; // a record torn by a crash: it was never acknowledged
                    }
                    crc.reset();
                    crc.update(ByteBuffer.allocate(8).putLong(0, first));
                    body.flip();
                    crc.update(body.duplicate());
                    if ((int) crc.getValue() != sum) {
                        LOG.warn("telemetry log {}: a record fails its checksum; the rest of the file is ignored", f.getFileName());
                        break;
                    }
                    List<StoredMessage> ms = MessageCodec.decodeLog(first, body.array());
                    if (ms.isEmpty()) {
                        continue;
                    }
                    long last = ms.get(ms.size() - 1).seq();
                    max = Math.max(max, last);
                    if (last > done) {
                        out.add(new Batch(ms, new long[] {last}));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        nextSeq = max + 1;
        // a file named past every valid record holds nothing acknowledged (its first record was torn or damaged)
        for (Long first : List.copyOf(files)) {
            if (first > max) {
                files.remove(first);
                try {
                    Files.deleteIfExists(dir.resolve(name(first)));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        return out;
    }

    private static int readFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                break;
            }
        }
        return b.position();
    }

    @Override
    public synchronized void close() {
        try {
            if (file != null) {
                file.close();
            }
        } catch (IOException e) {
            LOG.warn("closing the telemetry log: {}", e.toString());
        }
    }
}
