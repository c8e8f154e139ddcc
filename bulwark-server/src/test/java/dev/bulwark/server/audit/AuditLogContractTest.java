package dev.bulwark.server.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.StoreContract;
import dev.bulwark.server.testkit.TestClock;
import org.junit.jupiter.api.BeforeEach;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

@ParameterizedClass
@EnumSource(Backend.class)
class AuditLogContractTest extends StoreContract {
    AuditSigner signer;
    AuditLog log;

    @BeforeEach
    void log() {
        signer = AuditSigner.loadOrCreate(dataDir);
        log = new AuditLog(signer, new TestClock(), dataDir);
    }

    AuditRecord append(String tenant, String action) {
        return tx((Handle h) -> log.append(h, new AuditEntry(tenant, "operator:" + tenant + "/alice", action, "device:d", "127.0.0.1:1",
                AuditEntry.SUCCESS, "detail")));
    }

    @Test
    void appended_entries_form_one_signed_chain_read_back_newest_first() {
        var first = append("acme", "device.create");
        var second = append("acme", "device.delete");
        assertThat(second.prevHash()).isEqualTo(first.hash());
        assertThat(tx((Handle h) -> log.page(h, ACME, Long.MAX_VALUE, 10))).containsExactly(second, first);
        assertThat(tx((Handle h) -> log.page(h, ACME, second.seq(), 10))).containsExactly(first);
        assertThat(tx((Handle h) -> log.page(h, ACME, Long.MAX_VALUE, 1))).containsExactly(second);
        var verdict = tx((Handle h) -> new AuditVerifier(signer.verifyKey(), dataDir.dir("audit").resolve("anchor")).verify(h));
        assertThat(verdict.ok()).as(verdict.describe()).isTrue();
        assertThat(verdict.entries()).isEqualTo(2);
    }

    @Test
    void an_entry_that_is_edited_in_place_breaks_the_chain() {
        append("acme", "device.create");
        append("acme", "device.delete");
        tx((Handle h) -> h.execute("UPDATE audit_log SET detail = 'edited' WHERE seq = 1"));
        var verdict = tx((Handle h) -> new AuditVerifier(signer.verifyKey(), null).verify(h));
        assertThat(verdict.ok()).isFalse();
        assertThat(verdict.firstBadSeq()).isEqualTo(1);
    }

    @Test
    void a_tenant_reads_its_own_entries_and_never_another_tenants_or_the_platforms() {
        var acme = append("acme", "device.create");
        append("globex", "device.create");
        append(null, "tenant.create");
        assertThat(tx((Handle h) -> log.page(h, ACME, Long.MAX_VALUE, 10))).containsExactly(acme);
        assertThat(tx((Handle h) -> log.page(h, GLOBEX, Long.MAX_VALUE, 10))).extracting(AuditRecord::tenantId).containsExactly("globex");
        assertThat(tx((Handle h) -> log.page(h, null, Long.MAX_VALUE, 10))).extracting(AuditRecord::action).containsExactly("tenant.create");
    }
}
