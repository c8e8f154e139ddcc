package dev.bulwark.server.crypto;

import dev.bulwark.server.config.DataDir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Data keys (AES-256), one per ownership period or owner, kept <em>outside the database</em>: each is
 * wrapped by the key-encryption key and stored as its own owner-only file in {@code <data>/keys/data/}.
 * Destroying a key deletes that file, so a copy of the database, taken before or after, holds only
 * ciphertext that nothing left on the system can open (crypto-shredding). A KMS or an HSM can hold them
 * instead through {@link KeyWrapper}.
 */
public final class DataKeys {
    private static final java.util.regex.Pattern KEY_ID = java.util.regex.Pattern.compile("dk-[0-9a-f]{24}");
    private final Path dir;
    private final KeyWrapper kek;
    private final Map<String, byte[]> cache = new ConcurrentHashMap<>();
    private final java.util.Set<String> destroyed = ConcurrentHashMap.newKeySet();
    private final Map<String, javax.crypto.spec.SecretKeySpec> specs = new ConcurrentHashMap<>();
    private static final ThreadLocal<javax.crypto.Cipher> GCM = ThreadLocal.withInitial(() -> {
        try {
            return javax.crypto.Cipher.getInstance("AES/GCM/NoPadding");
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    });
    private static final ThreadLocal<Nonces> NONCES = ThreadLocal.withInitial(Nonces::new);

    /**
     * GCM nonces of the deterministic construction (NIST SP 800-38D, 8.2.1): a 64-bit field drawn from the
     * system's strong random source per thread, then a 32-bit invocation counter; a new field is drawn before
     * the counter would wrap. Two seals under one key share a nonce only if two draws of the 64-bit field
     * collide, which is far less likely than with 96 random bits per message, and it costs no random bytes
     * per message.
     */
    private static final class Nonces {
        private static final java.security.SecureRandom SEED = new java.security.SecureRandom();
        private long field = SEED.nextLong();
        private int counter;

        void next(byte[] out) {
            if (++counter == 0) {
                field = SEED.nextLong();
                counter = 1;
            }
            java.nio.ByteBuffer.wrap(out, 0, 12).putLong(field).putInt(counter);
        }
    }

    public DataKeys(DataDir dataDir, KeyWrapper kek) {
        this.dir = dataDir.dir("keys/data");
        this.kek = kek;
        this.pendingFile = dataDir.dir("keys").resolve("destroy-pending");
        if (Files.exists(pendingFile)) {
            for (String line : DataDir.read(pendingFile).split("\n")) {
                String[] f = line.strip().split(" ", 2);
                if (KEY_ID.matcher(f[0]).matches()) {
                    pending.put(f[0], f.length > 1 ? f[1] : "");
                    destroyed.add(f[0]); // never used again, also after a restart
                }
            }
        }
    }

    /** Keys whose destruction failed, with what they belonged to; retried by {@link #retryFailedDestructions}. */
    private final Map<String, String> pending = new java.util.concurrent.ConcurrentSkipListMap<>();
    private final Path pendingFile;

    /** Makes and stores a new key; returns its id. */
    public String create() {
        String id = "dk-" + Secrets.randomHex(12);
        byte[] key = Secrets.randomBytes(32);
        DataDir.writeSecret(dir.resolve(id), kek.wrap(key, id.getBytes(StandardCharsets.UTF_8)));
        cache.put(id, key);
        return id;
    }

    /** The key, or empty when it was destroyed (or never existed). */
    public Optional<byte[]> get(String id) {
        if (id == null || !KEY_ID.matcher(id).matches() || destroyed.contains(id)) {
            return Optional.empty();
        }
        byte[] k = cache.get(id);
        if (k != null) {
            return Optional.of(k);
        }
        Path f = dir.resolve(id);
        if (!Files.exists(f)) {
            return Optional.empty();
        }
        try {
            k = kek.unwrap(Files.readAllBytes(f), id.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        cache.put(id, k);
        if (destroyed.contains(id)) {
            cache.remove(id); // destroyed meanwhile
            return Optional.empty();
        }
        return Optional.of(k);
    }

    /**
     * What became of one key's destruction: destroyed only when its file is gone from disk; otherwise the reason. A
     * key whose destruction failed is no longer used by this process, but its wrapped copy is still on disk: the
     * caller must report it as failed, never count it as destroyed.
     */
    public record Destruction(String keyId, boolean destroyed, String reason) {
        static Destruction done(String id) {
            return new Destruction(id, true, null);
        }
    }

    /**
     * Destroys a key for good: the file is overwritten, then deleted, and checked gone; the cached copy is dropped.
     * Never throws for a failure of the store: the answer says whether it worked, and why not.
     */
    public Destruction destroy(String id) {
        return destroy(id, "");
    }

    /**
     * As {@link #destroy(String)}; a failure is also recorded in {@code <data>/keys/destroy-pending} with
     * {@code owner} (what the key belonged to, e.g. {@code acme/owner:ow-…}), so that the key is never used again,
     * not even after a restart, and its destruction is retried.
     */
    public Destruction destroy(String id, String owner) {
        Destruction d = remove(id);
        if (!d.destroyed() && d.keyId() != null && KEY_ID.matcher(d.keyId()).matches()) {
            pending.put(id, owner == null ? "" : owner.replace('\n', ' '));
            if (!savePending()) {
                return new Destruction(id, false, d.reason() + "; and it could not be recorded for a retry");
            }
        }
        return d;
    }

    /** Tries again the destructions that failed; returns those that now succeeded, with what each belonged to. */
    public Map<Destruction, String> retryFailedDestructions() {
        Map<Destruction, String> done = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, String> e : pending.entrySet()) {
            Destruction d = remove(e.getKey());
            if (d.destroyed()) {
                done.put(d, e.getValue());
            }
        }
        if (!done.isEmpty()) {
            done.keySet().forEach(d -> pending.remove(d.keyId()));
            savePending();
        }
        return done;
    }

    /** Ids of the keys whose destruction failed and is still to be retried. */
    public java.util.Set<String> failedDestructions() {
        return java.util.Set.copyOf(pending.keySet());
    }

    private synchronized boolean savePending() {
        try {
            if (pending.isEmpty()) {
                Files.deleteIfExists(pendingFile);
            } else {
                StringBuilder b = new StringBuilder();
                pending.forEach((k, v) -> b.append(k).append(' ').append(v).append('\n'));
                DataDir.writeSecret(pendingFile, b.toString());
            }
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Runs {@code listener} with the id of each key this node destroys, after it is gone (a cluster tells the
     * other nodes, which {@link #forget} it).
     */
    public void onDestroyed(java.util.function.Consumer<String> listener) {
        destroyedListeners.add(listener);
    }

    /**
     * Drops a key another node destroyed from what this node holds in memory: it is never used again here
     * (the file, in the shared data directory, is gone already).
     */
    public void forget(String id) {
        destroyed.add(id);
        specs.remove(id);
        cache.remove(id);
    }

    private final java.util.List<java.util.function.Consumer<String>> destroyedListeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    private Destruction remove(String id) {
        Destruction d = erase(id);
        for (var l : destroyedListeners) {
            try {
                l.accept(id);
            } catch (RuntimeException e) {
                // a listener's failure must not undo or hide the destruction
            }
        }
        return d;
    }

    private Destruction erase(String id) {
        destroyed.add(id);
        specs.remove(id);
        cache.remove(id); // not zeroed in place: a reader may hold it this instant
        if (id == null || !KEY_ID.matcher(id).matches()) {
            return new Destruction(id, false, "not a data key id");
        }
        Path f = dir.resolve(id);
        String reason = null;
        try {
            if (Files.exists(f)) {
                Files.write(f, new byte[(int) Files.size(f)]);
            }
        } catch (IOException e) {
            reason = "cannot overwrite " + f.getFileName() + ": " + e;
        }
        try {
            Files.deleteIfExists(f);
        } catch (IOException e) {
            reason = (reason == null ? "" : reason + "; ") + "cannot delete " + f.getFileName() + ": " + e;
        }
        if (Files.exists(f, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return new Destruction(id, false, reason == null ? f.getFileName() + " is still on disk" : reason);
        }
        return Destruction.done(id);
    }

    /**
     * Seals {@code plaintext} under key {@code id}: nonce(12) | ciphertext+tag, bound to {@code aad}. On the
     * ingest path: one cipher and one DRBG per thread, one key spec per key, a random 96-bit nonce per message.
     */
    public byte[] seal(String id, byte[] plaintext, byte[] aad) {
        javax.crypto.spec.SecretKeySpec spec = destroyed.contains(id) ? null : specs.get(id);
        if (spec == null) {
            spec = new javax.crypto.spec.SecretKeySpec(get(id).orElseThrow(() -> new IllegalStateException("data key " + id + " is gone")),
                    "AES");
            specs.put(id, spec);
        }
        byte[] out = new byte[12 + plaintext.length + 16];
        NONCES.get().next(out);
        try {
            javax.crypto.Cipher c = GCM.get();
            c.init(javax.crypto.Cipher.ENCRYPT_MODE, spec, new javax.crypto.spec.GCMParameterSpec(128, out, 0, 12));
            c.updateAAD(aad);
            c.doFinal(plaintext, 0, plaintext.length, out, 12);
            return out;
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("payload encryption failed", e);
        }
    }



    /** Opens what {@link #seal} made; empty when the key was destroyed. */
    public Optional<byte[]> open(String id, byte[] sealed, byte[] aad) {
        Optional<byte[]> key = get(id);
        if (key.isEmpty() || sealed.length < 28) {
            return Optional.empty();
        }
        try {
            return Optional.of(FileKek.Aead.decrypt(key.get(), java.util.Arrays.copyOf(sealed, 12),
                    java.util.Arrays.copyOfRange(sealed, 12, sealed.length), aad));
        } catch (IllegalStateException altered) {
            return Optional.empty(); // altered ciphertext, or sealed under another key
        }
    }
}
