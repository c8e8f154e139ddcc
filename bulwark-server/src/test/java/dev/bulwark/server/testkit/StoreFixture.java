package dev.bulwark.server.testkit;

import org.jdbi.v3.core.HandleCallback;

/**
 * A fresh, migrated database for each test of a store contract, on the backend the class is parameterized
 * with ({@code @ParameterizedClass @EnumSource(Backend.class)}), without a node around it. Two tenants,
 * {@link #ACME} and {@link #GLOBEX}, exist, each with a device {@link #DEVICE} of model {@code thermo}: the
 * same device id in both, so that a statement missing its tenant would reach the other tenant's row.
 */
public abstract class StoreFixture extends FreshDatabase {
    public static final String ACME = "acme";
    public static final String GLOBEX = "globex";
    public static final String DEVICE = "dev-1";

    @Override
    protected void seed() {
        for (String t : new String[] {ACME, GLOBEX}) {
            sql(h -> h.createUpdate("INSERT INTO tenants (id, name, created_ms) VALUES (:t, :t, 0)").bind("t", t).execute());
            device(t, DEVICE, "thermo", "active");
        }
    }

    /** A device row of the tenant. */
    protected void device(String tenant, String id, String model, String status) {
        sql(h -> h.createUpdate("INSERT INTO devices (tenant_id, id, model, status, created_ms, updated_ms) VALUES (:t, :id, :m, :s, 0, 0)")
                .bind("t", tenant).bind("id", id).bind("m", model).bind("s", status).execute());
    }

    /** Work in one transaction. */
    protected <R> R sql(HandleCallback<R, RuntimeException> work) {
        return tx(work);
    }

    /** A single number from a query (a count, typically). */
    protected long count(String query) {
        return sql(h -> h.createQuery(query).mapTo(Long.class).one());
    }
}
