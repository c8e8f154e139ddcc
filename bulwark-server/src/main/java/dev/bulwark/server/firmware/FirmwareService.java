package dev.bulwark.server.firmware;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.protocol.firmware.Canonical;
import dev.bulwark.protocol.firmware.Envelope;
import dev.bulwark.protocol.firmware.FirmwareMetadata;
import dev.bulwark.protocol.firmware.FirmwareRejected;
import dev.bulwark.protocol.firmware.FirmwareVerifier;
import dev.bulwark.protocol.firmware.ReleaseKeys;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.crypto.FileKek;
import dev.bulwark.server.crypto.KeyWrapper;
import dev.bulwark.server.crypto.Secrets;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;
import org.bouncycastle.util.io.pem.PemWriter;
import org.jdbi.v3.core.Handle;

/**
 * Firmware on the server. The server holds only public release keys (in each tenant's signed root) and
 * its online timestamp key ({@code <data>/firmware/timestamp.key}, owner-only): it can say "this release is
 * current" but it cannot make a release. Uploads are checked against the tenant's root threshold; images
 * are stored encrypted (AES-256-GCM, a data key per image wrapped by the key-encryption key, bound to the
 * release id), in chunks of {@link #CHUNK} bytes each sealed on its own, so that a download is read and
 * decrypted range by range ({@link #openImage}) and never whole. Rows are stored by {@link FirmwareStore}.
 */
public final class FirmwareService {
    /** How long a timestamp the server signs stays fresh. */
    public static final Duration FRESHNESS = Duration.ofHours(1);

    /** A stored release (without its image). */
    public record Release(String id, TenantId tenant, String model, String version, long versionNumber, String sha256, long length,
                          String targets, long createdMs, String createdBy) {
    }

    private final KeyWrapper kek;
    private final FirmwareStore store;
    private final PrivateKey timestampKey;
    private final PublicKey timestampPublic;

    public FirmwareService(DataDir dataDir, KeyWrapper kek, FirmwareStore store) {
        this.kek = kek;
        this.store = store;
        KeyPair ts = loadOrCreateTimestampKey(dataDir.dir("firmware").resolve("timestamp.key"));
        this.timestampKey = ts.getPrivate();
        this.timestampPublic = ts.getPublic();
    }

    public PublicKey timestampKey() {
        return timestampPublic;
    }

    public String timestampKeyId() {
        return ReleaseKeys.keyId(timestampPublic);
    }

    /** Sets the tenant's first root (trusted on its own) or a rotation (signed by the current root's threshold). */
    public FirmwareMetadata.Root setRoot(Handle h, TenantId tenant, byte[] envelope, String actor, long nowMs) {
        Envelope env = parse(envelope);
        Instant now = Instant.ofEpochMilli(nowMs);
        Optional<Envelope> current = currentRoot(h, tenant);
        FirmwareMetadata.Root root;
        try {
            root = current.isEmpty() ? FirmwareVerifier.trustRoot(env, now)
                    : FirmwareVerifier.rotateRoot(FirmwareVerifier.trustRoot(current.get(), Instant.EPOCH), env, now);
            FirmwareVerifier.rootCurrent(root, now);
        } catch (FirmwareRejected e) {
            throw Refusal.invalid("root refused (" + e.reason() + "): " + e.getMessage());
        }
        if (!root.tenant().equals(tenant.value())) {
            throw Refusal.invalid("the root names tenant " + root.tenant() + ", not yours");
        }
        if (current.isEmpty() && root.version() != 1) {
            throw Refusal.invalid("a tenant's first root has version 1 (devices start their chain there)");
        }
        if (!root.timestamp().keyids().contains(timestampKeyId())) {
            throw Refusal.invalid("the root's timestamp role must list this server's timestamp key " + timestampKeyId()
                    + " (GET /api/v1/firmware/timestamp-key)");
        }
        store.insertRoot(h, tenant, root.version(), new String(env.toJson(), StandardCharsets.UTF_8), nowMs, actor);
        return root;
    }

    public Optional<Envelope> currentRoot(Handle h, TenantId tenant) {
        return store.currentRoot(h, tenant).map(s -> Envelope.parse(s.getBytes(StandardCharsets.UTF_8)));
    }

    /** Every root of the tenant, oldest first: a device walks the chain from the one it trusts. */
    public List<Envelope> rootChain(Handle h, TenantId tenant) {
        return store.rootChain(h, tenant).stream().map(s -> Envelope.parse(s.getBytes(StandardCharsets.UTF_8))).toList();
    }

    /** Stores a release whose targets meet the tenant's threshold and whose image matches them. */
    public Release upload(Handle h, TenantId tenant, byte[] targetsJson, byte[] image, String actor, long nowMs) {
        Envelope env = parse(targetsJson);
        Envelope rootEnv = currentRoot(h, tenant).orElseThrow(() -> Refusal.conflict(
                "the tenant has no firmware root yet: PUT /api/v1/firmware/root first"));
        FirmwareMetadata.Targets t;
        try {
            FirmwareMetadata.Root root = FirmwareVerifier.trustRoot(rootEnv, Instant.EPOCH);
            FirmwareVerifier.rootCurrent(root, Instant.ofEpochMilli(nowMs));
            t = FirmwareVerifier.targets(root, env, Instant.ofEpochMilli(nowMs));
            FirmwareVerifier.image(t, image.length, ReleaseKeys.sha256Hex(image));
        } catch (FirmwareRejected e) {
            throw Refusal.invalid("release refused (" + e.reason() + "): " + e.getMessage());
        }
        Long newest = store.newestVersionNumber(h, tenant, t.model());
        if (newest != null && t.versionNumber() <= newest) {
            throw Refusal.conflict("version number " + t.versionNumber() + " is not above the model's newest release (" + newest + ")");
        }
        String id = "fw-" + Secrets.randomHex(8);
        byte[] dataKey = Secrets.randomBytes(32);
        byte[] nonce = Secrets.randomBytes(12);
        byte[] aad = id.getBytes(StandardCharsets.UTF_8);
        byte[] wrapped;
        String targets = new String(env.toJson(), StandardCharsets.UTF_8);
        Release release = new Release(id, tenant, t.model(), t.version(), t.versionNumber(), t.sha256(), t.length(), targets, nowMs, actor);
        try {
            wrapped = kek.wrap(dataKey, aad);
            store.insertRelease(h, release, wrapped, nonce, CHUNK);
            int chunks = chunkCount(image.length);
            for (int group = 0; group < chunks; group += 16) { // one MiB of sealed chunks per batch
                List<byte[]> sealed = new java.util.ArrayList<>(16);
                for (int i = group; i < Math.min(chunks, group + 16); i++) {
                    int from = i * CHUNK;
                    byte[] plain = java.util.Arrays.copyOfRange(image, from, Math.min(image.length, from + CHUNK));
                    sealed.add(FileKek.Aead.encrypt(dataKey, chunkNonce(nonce, i), plain, chunkAad(id, i, chunks)));
                }
                store.insertChunks(h, id, group, sealed);
            }
        } finally {
            java.util.Arrays.fill(dataKey, (byte) 0); // our copy; the JCE keeps its own for the cipher's lifetime
        }
        return release;
    }

    public Optional<Release> release(Handle h, TenantId tenant, String id) {
        return store.release(h, tenant, id);
    }

    /** The tenant's releases, newest first. */
    public List<Release> releases(Handle h, TenantId tenant) {
        return store.releases(h, tenant);
    }

    /**
     * What a device fetches for a release: the tenant's root chain, the signed targets, and a timestamp
     * signed now by the online key, fresh for {@link #FRESHNESS}.
     */
    public ObjectNode metadata(Handle h, Release r, long nowMs) {
        Envelope targets = parse(r.targets().getBytes(StandardCharsets.UTF_8));
        Envelope ts = Envelope.unsigned(FirmwareMetadata.timestamp(r.tenant().value(), targets, r.versionNumber(),
                Instant.ofEpochMilli(nowMs).plus(FRESHNESS))).sign(timestampKey, timestampKeyId());
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        ArrayNode roots = out.putArray("roots");
        for (Envelope e : rootChain(h, r.tenant())) {
            roots.add(Canonical.parse(e.toJson()));
        }
        out.set("targets", Canonical.parse(targets.toJson()));
        out.set("timestamp", Canonical.parse(ts.toJson()));
        out.put("release", r.id());
        out.put("image", "/device/v1/firmware/" + r.id() + "/image");
        return out;
    }

    /** The size of an image chunk: the unit in which images are sealed, read and decrypted. */
    public static final int CHUNK = 64 * 1024;

    static int chunkCount(long length) {
        return (int) ((length + CHUNK - 1) / CHUNK);
    }

    /** The nonce of chunk {@code i}: the release's random nonce with the chunk index added into its last four bytes. */
    static byte[] chunkNonce(byte[] base, int i) {
        byte[] n = base.clone();
        int tail = ((n[8] & 0xff) << 24 | (n[9] & 0xff) << 16 | (n[10] & 0xff) << 8 | (n[11] & 0xff)) ^ i;
        n[8] = (byte) (tail >>> 24);
        n[9] = (byte) (tail >>> 16);
        n[10] = (byte) (tail >>> 8);
        n[11] = (byte) tail;
        return n;
    }

    /** What each chunk's tag binds besides its bytes: the release, the chunk's position and the number of chunks (no reordering, splicing or truncation). */
    static byte[] chunkAad(String id, int i, int chunks) {
        return (id + "#" + i + "/" + chunks).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A stored image opened for reading: its data key unwrapped, nothing decrypted yet. Ranges are read and
     * decrypted chunk by chunk ({@link #CHUNK}); a chunk that fails its integrity check, or a missing chunk,
     * throws {@link IllegalStateException}. {@link #close} erases the data key.
     */
    public static final class Image implements AutoCloseable {
        private final FirmwareStore store;
        private final TenantId tenant;
        private final String id;
        private final long length;
        private final byte[] nonce;
        private byte[] dataKey;
        private final byte[] legacy;

        private Image(FirmwareStore store, TenantId tenant, String id, long length, byte[] nonce, byte[] dataKey, byte[] legacy) {
            this.store = store;
            this.tenant = tenant;
            this.id = id;
            this.length = length;
            this.nonce = nonce;
            this.dataKey = dataKey;
            this.legacy = legacy;
        }

        public long length() {
            return length;
        }

        /** The plaintext bytes {@code from}..{@code to} (inclusive), reading only the chunks that hold them. */
        public byte[] read(Handle h, long from, long to) {
            if (from < 0 || to >= length || from > to || to - from >= Integer.MAX_VALUE) {
                throw new IllegalArgumentException("range " + from + "-" + to + " outside the image of " + length + " bytes");
            }
            if (legacy != null) {
                return java.util.Arrays.copyOfRange(legacy, (int) from, (int) to + 1);
            }
            byte[] key = dataKey;
            if (key == null) {
                throw new IllegalStateException("image closed");
            }
            int first = (int) (from / CHUNK);
            int last = (int) (to / CHUNK);
            int chunks = chunkCount(length);
            List<FirmwareStore.Chunk> rows = store.chunks(h, tenant, id, first, last);
            if (rows.size() != last - first + 1) {
                throw new IllegalStateException("image " + id + " is missing chunks");
            }
            byte[] out = new byte[(int) (to - from + 1)];
            int pos = 0;
            for (FirmwareStore.Chunk row : rows) {
                int i = row.idx();
                byte[] plain = FileKek.Aead.decrypt(key, chunkNonce(nonce, i), row.sealed(), chunkAad(id, i, chunks));
                long chunkStart = (long) i * CHUNK;
                if (plain.length != Math.min(CHUNK, length - chunkStart)) {
                    throw new IllegalStateException("image " + id + " chunk " + i + " has the wrong length");
                }
                int a = (int) Math.max(0, from - chunkStart);
                int b = (int) Math.min(plain.length - 1, to - chunkStart);
                System.arraycopy(plain, a, out, pos, b - a + 1);
                pos += b - a + 1;
            }
            return out;
        }

        @Override
        public synchronized void close() {
            if (dataKey != null) {
                java.util.Arrays.fill(dataKey, (byte) 0);
                dataKey = null;
            }
        }
    }

    /**
     * Opens a release's stored image. Releases stored before images were chunked are decrypted whole here, once
     * per opening (they were sealed as one AES-GCM message, which cannot be checked in parts); every release
     * uploaded since is read chunk by chunk.
     */
    public Image openImage(Handle h, TenantId tenant, String id) {
        FirmwareStore.Sealing row = store.sealing(h, tenant, id).orElseThrow(Refusal::notFound);
        byte[] aad = id.getBytes(StandardCharsets.UTF_8);
        byte[] dataKey = kek.unwrap(row.wrappedKey(), aad);
        long length = row.length();
        if (row.chunkSize() != null) {
            if (row.chunkSize() != CHUNK) {
                java.util.Arrays.fill(dataKey, (byte) 0);
                throw new IllegalStateException("image " + id + " has an unknown chunk size");
            }
            return new Image(store, tenant, id, length, row.nonce(), dataKey, null);
        }
        try {
            byte[] sealed = store.wholeImage(h, tenant, id).orElseThrow(Refusal::notFound);
            return new Image(store, tenant, id, length, null, null, FileKek.Aead.decrypt(dataKey, row.nonce(), sealed, aad));
        } finally {
            java.util.Arrays.fill(dataKey, (byte) 0);
        }
    }

    /** The whole decrypted image (for small images and tests; devices are served ranges through {@link #openImage}). */
    public byte[] image(Handle h, TenantId tenant, String id) {
        try (Image img = openImage(h, tenant, id)) {
            return img.length() == 0 ? new byte[0] : img.read(h, 0, img.length() - 1);
        }
    }

    private static Envelope parse(byte[] json) {
        try {
            return Envelope.parse(json);
        } catch (FirmwareRejected e) {
            throw Refusal.invalid("metadata refused (" + e.reason() + "): " + e.getMessage());
        }
    }

    private static KeyPair loadOrCreateTimestampKey(Path file) {
        try {
            if (!Files.exists(file)) {
                KeyPair kp = ReleaseKeys.generate();
                StringWriter sw = new StringWriter();
                try (PemWriter w = new PemWriter(sw)) {
                    w.writeObject(new PemObject("PRIVATE KEY", kp.getPrivate().getEncoded()));
                    w.writeObject(new PemObject("PUBLIC KEY", kp.getPublic().getEncoded()));
                }
                DataDir.writeSecret(file, sw.toString());
            }
            try (PemReader r = new PemReader(new StringReader(Files.readString(file)))) {
                PrivateKey priv = ReleaseKeys.privateFromPkcs8(r.readPemObject().getContent());
                PublicKey pub = ReleaseKeys.publicFromX509(r.readPemObject().getContent());
                return new KeyPair(pub, priv);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the firmware timestamp key " + file, e);
        }
    }
}
