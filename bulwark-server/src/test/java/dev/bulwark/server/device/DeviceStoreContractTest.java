package dev.bulwark.server.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.bulwark.protocol.DeviceId;
import dev.bulwark.protocol.ModelId;
import dev.bulwark.server.core.Refusal;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class DeviceStoreContractTest extends StoreContract {
    static final DeviceId THERMO = DeviceId.of("thermo-1");
    final DeviceStore store = new DeviceStore();

    @Test
    void a_created_device_is_read_back_found_listed_and_locked() {
        var created = tx((Handle h) -> store.create(h, ACME, THERMO, ModelId.of("thermo"), 5));
        assertThat(created.status()).isEqualTo(DeviceStatus.ACTIVE);
        var read = tx((Handle h) -> store.find(h, ACME, THERMO)).orElseThrow();
        assertThat(read).isEqualTo(created);
        assertThat(read.model()).isEqualTo("thermo");
        assertThat(tx((Handle h) -> store.lock(h, ACME, THERMO))).isEqualTo(created);
        assertThat(tx((Handle h) -> store.status(h, ACME, THERMO))).contains(DeviceStatus.ACTIVE);
        assertThat(tx((Handle h) -> store.isRegistered(h, ACME, THERMO))).isTrue();
        assertThat(tx((Handle h) -> store.list(h, ACME, "", 10))).extracting(DeviceStore.Device::id).containsExactly("thermo-1");
    }

    @Test
    void a_device_id_is_taken_once_per_tenant() {
        tx((Handle h) -> store.create(h, ACME, THERMO, ModelId.of("thermo"), 5));
        assertThatThrownBy(() -> tx((Handle h) -> store.create(h, ACME, THERMO, ModelId.of("thermo"), 6)))
                .isInstanceOfSatisfying(Refusal.class, r -> assertThat(r.kind()).isEqualTo(Refusal.Kind.CONFLICT));
    }

    @Test
    void a_status_change_and_the_status_before_a_quarantine_are_stored_by_name() {
        tx((Handle h) -> store.create(h, ACME, THERMO, ModelId.of("thermo"), 5));
        tx((Handle h) -> {
            store.setStatus(h, ACME, THERMO, DeviceStatus.DISABLED, 7);
            store.rememberStatusBeforeQuarantine(h, ACME, THERMO, DeviceStatus.DISABLED);
            store.setStatus(h, ACME, THERMO, DeviceStatus.QUARANTINED, 8);
            return null;
        });
        var read = tx((Handle h) -> store.require(h, ACME, THERMO));
        assertThat(read.status()).isEqualTo(DeviceStatus.QUARANTINED);
        assertThat(read.updatedMs()).isEqualTo(8);
        assertThat(tx((Handle h) -> store.statusBeforeQuarantine(h, ACME, THERMO))).contains(DeviceStatus.DISABLED);
        assertThat(tx((Handle h) -> h.createQuery("SELECT status FROM devices WHERE id = 'thermo-1'").mapTo(String.class).one()))
                .isEqualTo("quarantined");
    }

    @Test
    void a_deleted_device_disappears_from_every_read_and_its_id_is_never_reused() {
        tx((Handle h) -> store.create(h, ACME, THERMO, ModelId.of("thermo"), 5));
        tx((Handle h) -> {
            store.setStatus(h, ACME, THERMO, DeviceStatus.DELETED, 9);
            return null;
        });
        assertThat(tx((Handle h) -> store.find(h, ACME, THERMO))).isEmpty();
        assertThat(tx((Handle h) -> store.list(h, ACME, "", 10))).isEmpty();
        assertThat(tx((Handle h) -> store.isRegistered(h, ACME, THERMO))).isFalse();
        assertThat(tx((Handle h) -> store.status(h, ACME, THERMO))).contains(DeviceStatus.DELETED);
        assertThatThrownBy(() -> tx((Handle h) -> store.lock(h, ACME, THERMO))).isInstanceOf(Refusal.class);
        assertThatThrownBy(() -> tx((Handle h) -> store.create(h, ACME, THERMO, ModelId.of("thermo"), 10)))
                .isInstanceOfSatisfying(Refusal.class, r -> assertThat(r.reason()).contains("deleted device"));
    }

    @Test
    void another_tenant_never_reads_or_changes_the_device() {
        tx((Handle h) -> store.create(h, ACME, THERMO, ModelId.of("thermo"), 5));
        assertThat(tx((Handle h) -> store.find(h, GLOBEX, THERMO))).isEmpty();
        assertThat(tx((Handle h) -> store.status(h, GLOBEX, THERMO))).isEmpty();
        assertThat(tx((Handle h) -> store.isRegistered(h, GLOBEX, THERMO))).isFalse();
        assertThat(tx((Handle h) -> store.list(h, GLOBEX, "", 10))).isEmpty();
        assertThatThrownBy(() -> tx((Handle h) -> store.require(h, GLOBEX, THERMO))).isInstanceOf(Refusal.class);
        assertThatThrownBy(() -> tx((Handle h) -> store.lock(h, GLOBEX, THERMO))).isInstanceOf(Refusal.class);
        tx((Handle h) -> {
            store.setStatus(h, GLOBEX, THERMO, DeviceStatus.DELETED, 9);
            store.rememberStatusBeforeQuarantine(h, GLOBEX, THERMO, DeviceStatus.DISABLED);
            return null;
        });
        var acme = tx((Handle h) -> store.require(h, ACME, THERMO));
        assertThat(acme.status()).isEqualTo(DeviceStatus.ACTIVE);
        assertThat(acme.updatedMs()).isEqualTo(5);
        assertThat(tx((Handle h) -> store.statusBeforeQuarantine(h, ACME, THERMO))).isEmpty();
        // the other tenant has its own device of that id, separate from the first
        tx((Handle h) -> store.create(h, GLOBEX, THERMO, ModelId.of("other"), 6));
        assertThat(tx((Handle h) -> store.require(h, GLOBEX, THERMO)).model()).isEqualTo("other");
        assertThat(tx((Handle h) -> store.require(h, ACME, THERMO)).model()).isEqualTo("thermo");
    }
}
