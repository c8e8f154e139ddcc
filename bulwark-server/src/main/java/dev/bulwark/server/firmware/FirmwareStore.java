package dev.bulwark.server.firmware;

import dev.bulwark.protocol.TenantId;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.PreparedBatch;

/**
 * The {@code firmware_roots}, {@code firmware_releases} and {@code firmware_image_chunks} tables. Every
 * statement is keyed by tenant; chunks, which carry only their release's id, are read through a join on
 * their release and the tenant.
 */
public final class FirmwareStore {

    /** How a release's image is sealed: its wrapped data key, base nonce, length, and chunk size (null: sealed whole). */
    public record Sealing(byte[] wrappedKey, byte[] nonce, long length, Integer chunkSize) {
    }

    /** One sealed chunk of an image. */
    public record Chunk(int idx, byte[] sealed) {
    }

    private static final RowMapper<FirmwareService.Release> RELEASE = (rs, ctx) -> new FirmwareService.Release(rs.getString("id"),
            TenantId.of(rs.getString("tenant_id")), rs.getString("model"), rs.getString("version"), rs.getLong("version_number"),
            rs.getString("sha256"), rs.getLong("length"), rs.getString("targets"), rs.getLong("created_ms"), rs.getString("created_by"));
    private static final String RELEASE_COLUMNS = "id, tenant_id, model, version, version_number, sha256, length, targets, created_ms, created_by";

    public void insertRoot(Handle h, TenantId tenant, long version, String envelope, long nowMs, String actor) {
        h.createUpdate("INSERT INTO firmware_roots (tenant_id, version, envelope, created_ms, created_by) VALUES (:t, :v, :e, :now, :by)")
                .bind("t", tenant.value()).bind("v", version).bind("e", envelope).bind("now", nowMs).bind("by", actor).execute();
    }

    /** The envelope of the tenant's newest root. */
    public Optional<String> currentRoot(Handle h, TenantId tenant) {
        return h.createQuery("SELECT envelope FROM firmware_roots WHERE tenant_id = :t ORDER BY version DESC LIMIT 1")
                .bind("t", tenant.value()).mapTo(String.class).findOne();
    }

    /** The envelopes of every root of the tenant, oldest first. */
    public List<String> rootChain(Handle h, TenantId tenant) {
        return h.createQuery("SELECT envelope FROM firmware_roots WHERE tenant_id = :t ORDER BY version").bind("t", tenant.value())
                .mapTo(String.class).list();
    }

    /** The highest version number of the model's releases, or null when it has none. */
    public Long newestVersionNumber(Handle h, TenantId tenant, String model) {
        return h.createQuery("SELECT MAX(version_number) FROM firmware_releases WHERE tenant_id = :t AND model = :m")
                .bind("t", tenant.value()).bind("m", model).mapTo(Long.class).one();
    }

    /** Stores a release whose image is sealed in chunks of {@code chunkSize} ({@link #insertChunks}). */
    public void insertRelease(Handle h, FirmwareService.Release r, byte[] wrappedKey, byte[] nonce, int chunkSize) {
        h.createUpdate("INSERT INTO firmware_releases (id, tenant_id, model, version, version_number, sha256, length, targets, wrapped_key, "
                        + "nonce, image, chunk_size, created_ms, created_by) VALUES (:id, :t, :m, :v, :vn, :sha, :len, :targets, :wk, :nonce, "
                        + ":img, :chunk, :now, :by)")
                .bind("id", r.id()).bind("t", r.tenant().value()).bind("m", r.model()).bind("v", r.version()).bind("vn", r.versionNumber())
                .bind("sha", r.sha256()).bind("len", r.length()).bind("targets", r.targets()).bind("wk", wrappedKey).bind("nonce", nonce)
                .bind("img", new byte[0]).bind("chunk", chunkSize).bind("now", r.createdMs()).bind("by", r.createdBy()).execute();
    }

    /** Stores sealed chunks {@code firstIdx}, {@code firstIdx + 1}, … of a release in one batch. */
    public void insertChunks(Handle h, String releaseId, int firstIdx, List<byte[]> sealed) {
        PreparedBatch batch = h.prepareBatch("INSERT INTO firmware_image_chunks (release_id, idx, sealed) VALUES (:r, :i, :s)");
        for (int i = 0; i < sealed.size(); i++) {
            batch.bind("r", releaseId).bind("i", firstIdx + i).bind("s", sealed.get(i)).add();
        }
        batch.execute();
    }

    public Optional<FirmwareService.Release> release(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT " + RELEASE_COLUMNS + " FROM firmware_releases WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id).map(RELEASE).findOne();
    }

    /** The tenant's releases, newest first. */
    public List<FirmwareService.Release> releases(Handle h, TenantId tenant) {
        return h.createQuery("SELECT " + RELEASE_COLUMNS + " FROM firmware_releases WHERE tenant_id = :t ORDER BY created_ms DESC, id")
                .bind("t", tenant.value()).map(RELEASE).list();
    }

    public Optional<Sealing> sealing(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT wrapped_key, nonce, length, chunk_size FROM firmware_releases WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id).map((rs, ctx) -> {
                    int chunk = rs.getInt("chunk_size");
                    Integer chunkSize = rs.wasNull() ? null : chunk;
                    return new Sealing(rs.getBytes("wrapped_key"), rs.getBytes("nonce"), rs.getLong("length"), chunkSize);
                }).findOne();
    }

    /** The image of a release stored before images were chunked, sealed whole. */
    public Optional<byte[]> wholeImage(Handle h, TenantId tenant, String id) {
        return h.createQuery("SELECT image FROM firmware_releases WHERE tenant_id = :t AND id = :id")
                .bind("t", tenant.value()).bind("id", id).mapTo(byte[].class).findOne();
    }

    /** Chunks {@code first}..{@code last} of a release of the tenant, in order (missing ones are simply absent). */
    public List<Chunk> chunks(Handle h, TenantId tenant, String releaseId, int first, int last) {
        return h.createQuery("SELECT c.idx, c.sealed FROM firmware_image_chunks c JOIN firmware_releases r ON r.id = c.release_id "
                        + "WHERE r.tenant_id = :t AND c.release_id = :r AND c.idx BETWEEN :a AND :b ORDER BY c.idx")
                .bind("t", tenant.value()).bind("r", releaseId).bind("a", first).bind("b", last)
                .map((rs, ctx) -> new Chunk(rs.getInt("idx"), rs.getBytes("sealed"))).list();
    }
}
