package dev.bulwark.server.testkit;

import dev.bulwark.server.config.DataDir;
import dev.bulwark.server.store.Database;
import java.nio.file.Path;
import org.jdbi.v3.core.HandleCallback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;

/**
 * A freshly migrated database for each test, without a node around it, on the backend the class is
 * parameterized with ({@code @ParameterizedClass @EnumSource(Backend.class)}); dropped after the test.
 * Subclasses seed the rows their contract hangs on.
 */
public abstract class FreshDatabase {
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
        seed();
    }

    @AfterEach
    void closeDatabase() {
        if (db != null) {
            db.close();
        }
        Backend.drop(url);
    }

    /** The rows every test of the class starts from. */
    protected abstract void seed();

    /** Work in one transaction. */
    protected <R> R tx(HandleCallback<R, RuntimeException> work) {
        return db.tx(work);
    }
}
