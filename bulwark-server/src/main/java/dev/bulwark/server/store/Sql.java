package dev.bulwark.server.store;

import java.sql.SQLException;
import org.jdbi.v3.core.JdbiException;

/** Small helpers shared by the stores. */
public final class Sql {
    private Sql() {
    }

    /** True when {@code e} was caused by a unique or primary key violation (SQLSTATE 23505 on H2 and PostgreSQL). */
    public static boolean isUniqueViolation(JdbiException e) {
        Throwable t = e;
        while (t != null) {
            if (t instanceof SQLException s && "23505".equals(s.getSQLState())) {
                return true;
            }
            t = t.getCause();
        }
        return false;
    }
}
