package dev.bulwark.server.testkit;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.protocol.TenantId;
import dev.bulwark.server.device.DeviceStore;
import dev.bulwark.server.identity.TenantStore;

/**
 * A store's contract suite: a freshly migrated database on the backend the class is parameterized with
 * ({@code @ParameterizedClass @EnumSource(Backend.class)}), and the tenants and devices the rows hang on.
 */
public abstract class StoreContract extends FreshDatabase {
    protected static final TenantId ACME = TenantId.of("acme");
    protected static final TenantId GLOBEX = TenantId.of("globex");

    @Override
    protected void seed() {
        tx(h -> {
            new TenantStore().create(h, ACME, "Acme", 1);
            new TenantStore().create(h, GLOBEX, "Globex", 1);
            return null;
        });
    }

    /** Registers {@code device} (model {@code m}) in {@code tenant}. */
    protected void device(TenantId tenant, String device) {
        tx(h -> new DeviceStore().create(h, tenant, DeviceId.of(device), ModelId.of("m"), 1));
    }
}
