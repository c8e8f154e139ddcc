package dev.bulwark.server.testkit;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * The databases every store-touching test runs on: the embedded H2 default and the PostgreSQL server on
 * 127.0.0.1:5432 (database {@code test}, trust auth). Each server under test gets its own PostgreSQL
 * schema, dropped afterwards.
 *
 * <p>When PostgreSQL is unreachable the PostgreSQL variant is skipped on a developer machine, and
 * <b>fails</b> when {@code CI=true}: CI never passes without having run it.
 */
public enum Backend {
    H2,
    POSTGRESQL;

    public static final String PG_BASE = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres";

    /** A fresh database for one server: null for the embedded H2 database, else a JDBC URL. */
    public String freshDatabase() {
        if (this == H2) {
            return null;
        }
        requirePostgres();
        String schema = "bw_" + Long.toHexString(Double.doubleToLongBits(Math.random())).substring(0, 12);
        try (Connection c = DriverManager.getConnection(PG_BASE); Statement s = c.createStatement()) {
            s.execute("CREATE SCHEMA " + schema);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return PG_BASE + "&currentSchema=" + schema;
    }

    /** Drops the schema of a database made by {@link #freshDatabase()}. */
    public static void drop(String url) {
        if (url == null || !url.contains("currentSchema=bw_")) {
            return;
        }
        String schema = url.substring(url.indexOf("currentSchema=") + "currentSchema=".length());
        try (Connection c = DriverManager.getConnection(PG_BASE); Statement s = c.createStatement()) {
            s.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
        } catch (SQLException e) {
            // best effort: a leftover schema does not affect other tests
        }
    }

    private static Boolean pgUp;

    public static synchronized void requirePostgres() {
        if (pgUp == null) {
            try (Connection c = DriverManager.getConnection(PG_BASE)) {
                pgUp = c.isValid(5);
            } catch (SQLException e) {
                pgUp = false;
            }
        }
        if (!pgUp) {
            String msg = "PostgreSQL is not reachable at 127.0.0.1:5432 (database test); start it with "
                    + "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                Assertions.fail(msg + " -- PostgreSQL tests are mandatory when CI=true");
            }
            Assumptions.abort(msg);
        }
    }
}
