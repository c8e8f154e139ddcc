package dev.bulwark.server.crypto;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;

/**
 * A file sealed at rest under a data key of {@link DataKeys} (itself wrapped by the key-encryption key), written and
 * read as a stream: the plaintext is cut into chunks of at most 64 KiB, each sealed with AES-256-GCM and bound to
 * the file's context, its position and whether it is the last one, so that chunks cannot be reordered, dropped,
 * moved to another file, nor the file cut short without the reader noticing. Neither side holds the whole file.
 *
 * <p>Layout: {@code "BWSF" | version(1)=1 | key id length(1) | key id (ASCII)}, then chunks of
 * {@code length(4, high bit set on the last chunk) | nonce(12) | ciphertext | tag(16)}. The key id is not secret;
 * destroying that key makes the file unreadable for good (it is deleted as well).
 */
public final class SealedFile {
    private static final byte[] MAGIC = "BWSF".getBytes(StandardCharsets.US_ASCII);
    private static final byte VERSION = 1;
    static final int CHUNK = 64 * 1024;
    private static final int LAST = 0x8000_0000;

    private SealedFile() {
    }

    /** Creates {@code file} owner-only and returns a stream that seals what is written under key {@code keyId}. */
    public static OutputStream create(Path file, DataKeys keys, String keyId, byte[] context) throws IOException {
        FileChannel ch = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        OutputStream raw = Channels.newOutputStream(ch);
        byte[] id = keyId.getBytes(StandardCharsets.US_ASCII);
        raw.write(MAGIC);
        raw.write(VERSION);
        raw.write(id.length);
        raw.write(id);
        return new Writer(raw, ch, keys, keyId, context);
    }

    /** The id of the key a sealed file is sealed under, read from its header. */
    public static String keyId(Path file) throws IOException {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 256))) {
            return header(in, file);
        }
    }

    /**
     * A stream of the plaintext, opened chunk by chunk as it is read. A chunk that does not open (altered,
     * reordered, truncated file, or its key destroyed) fails the read with an {@link IOException}.
     */
    public static InputStream open(Path file, DataKeys keys, byte[] context) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), CHUNK + 64));
        try {
            return new Reader(in, keys, header(in, file), context);
        } catch (IOException | RuntimeException e) {
            in.close();
            throw e;
        }
    }

    private static String header(DataInputStream in, Path file) throws IOException {
        byte[] magic = new byte[4];
        in.readFully(magic);
        if (!Arrays.equals(magic, MAGIC) || in.readUnsignedByte() != VERSION) {
            throw new IOException(file.getFileName() + " is not a sealed file");
        }
        byte[] id = new byte[in.readUnsignedByte()];
        in.readFully(id);
        return new String(id, StandardCharsets.US_ASCII);
    }

    private static byte[] aad(byte[] context, long index, boolean last) {
        return ByteBuffer.allocate(context.length + 9).put(context).putLong(index).put((byte) (last ? 1 : 0)).array();
    }

    private static final class Writer extends FilterOutputStream {
        private final FileChannel ch;
        private final DataKeys keys;
        private final String keyId;
        private final byte[] context;
        private final byte[] buf = new byte[CHUNK];
        private int n;
        private long index;
        private boolean closed;

        Writer(OutputStream raw, FileChannel ch, DataKeys keys, String keyId, byte[] context) {
            super(raw);
            this.ch = ch;
            this.keys = keys;
            this.keyId = keyId;
            this.context = context.clone();
        }

        @Override
        public void write(int b) throws IOException {
            if (n == CHUNK) {
                seal(false);
            }
            buf[n++] = (byte) b;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                if (n == CHUNK) {
                    seal(false);
                }
                int k = Math.min(len, CHUNK - n);
                System.arraycopy(b, off, buf, n, k);
                n += k;
                off += k;
                len -= k;
            }
        }

        private void seal(boolean last) throws IOException {
            byte[] sealed = keys.seal(keyId, Arrays.copyOf(buf, n), aad(context, index++, last));
            byte[] len = ByteBuffer.allocate(4).putInt(sealed.length | (last ? LAST : 0)).array();
            out.write(len);
            out.write(sealed);
            Arrays.fill(buf, 0, n, (byte) 0);
            n = 0;
        }

        @Override
        public void flush() {
            // chunks are written whole; the last one on close
        }

        @Override
        public void close() throws IOException {
            if (closed) {
                return;
            }
            closed = true;
            try {
                seal(true);
                ch.force(true);
            } finally {
                out.close();
            }
        }
    }

    private static final class Reader extends InputStream {
        private final DataInputStream in;
        private final DataKeys keys;
        private final String keyId;
        private final byte[] context;
        private byte[] chunk = new byte[0];
        private int pos;
        private long index;
        private boolean done;

        Reader(DataInputStream in, DataKeys keys, String keyId, byte[] context) {
            this.in = in;
            this.keys = keys;
            this.keyId = keyId;
            this.context = context.clone();
        }

        private boolean fill() throws IOException {
            while (pos == chunk.length) {
                if (done) {
                    return false;
                }
                int len;
                try {
                    len = in.readInt();
                } catch (EOFException e) {
                    throw new IOException("sealed file cut short before its last chunk");
                }
                boolean last = (len & LAST) != 0;
                len &= ~LAST;
                if (len < 28 || len > CHUNK + 28) {
                    throw new IOException("sealed file chunk of impossible length " + len);
                }
                byte[] sealed = new byte[len];
                in.readFully(sealed);
                chunk = keys.open(keyId, sealed, aad(context, index++, last))
                        .orElseThrow(() -> new IOException("a chunk of the sealed file does not open (altered, moved, or its key destroyed)"));
                pos = 0;
                if (last) {
                    done = true;
                    if (in.read() != -1) {
                        throw new IOException("data after the last chunk of a sealed file");
                    }
                }
            }
            return true;
        }

        @Override
        public int read() throws IOException {
            return fill() ? chunk[pos++] & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (!fill()) {
                return -1;
            }
            int k = Math.min(len, chunk.length - pos);
            System.arraycopy(chunk, pos, b, off, k);
            pos += k;
            return k;
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
