package dev.bulwark.server.testkit;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.identity.TenantStore;
import dev.bulwark.server.store.Database;
import java.nio.file.Path;
import org.jdbi.v3.core.HandleCallback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;

/**
 * A store's contract suite: a freshly migrated database on the backend the class is parameterized with
 * ({@code @ParameterizedClass @EnumSource(Backend.class)}), and the tenants and devices the rows hang on.
 */
public abstract class StoreContract {
    protected static final TenantId ACME = TenantId.of("acme");
    protected static final TenantId GLOBEX = TenantId.of("globex");

    @Parameter
    protected Backend backend;

    @TempDir
    protected Path dir;

    protected DataDir dataDir;
    protected Database db;
    private String url;

    @BeforeEach
    void openDatabase() {
        url = backend.freshDatabase();
        dataDir = new DataDir(dir);
        db = Database.open(url, dataDir);
        tx(h -> {
            new TenantStore().create(h, ACME, "Acme", 1);
            new TenantStore().create(h, GLOBEX, "Globex", 1);
            return null;
        });
    }

    @AfterEach
    void closeDatabase() {
        if (db != null) {
            db.close();
        }
        Backend.drop(url);
    }

    protected <R> R tx(HandleCallback<R, RuntimeException> work) {
        return db.tx(work);
    }

    /** Registers {@code device} (model {@code m}) in {@code tenant}. */
    protected void device(TenantId tenant, String device) {
        tx(h -> new DeviceStore().create(h, tenant, DeviceId.of(device), ModelId.of("m"), 1));
    }
}
