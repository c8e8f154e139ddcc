package dev.bulwark.server.store;

/**
 * The one place where H2 and PostgreSQL differ. Flyway picks
 * {@code db/migration/<folder>} in addition to the common migrations.
 */
public enum Dialect {
    H2("h2"),
    POSTGRESQL("postgresql");

    private final String folder;

    Dialect(String folder) {
        this.folder = folder;
    }

    public String folder() {
        return folder;
    }

    /** The clause that locks the selected rows until the end of the transaction. */
    public String forUpdate() {
        return " FOR UPDATE";
    }
}
