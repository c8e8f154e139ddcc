package dev.bulwark.server.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.bulwark.server.cli.BulwarkCli;
import dev.bulwark.server.testkit.Backend;
import dev.bulwark.server.testkit.NodePerTest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The audit log is tamper-evident: each test edits the database directly, as an attacker with write
 * access to it would, and {@code bulwark audit verify} must name the first bad entry.
 */
@ParameterizedClass
@EnumSource(Backend.class)
class AuditChainTamperTest extends NodePerTest {
    long last;

    /** Verdict of the CLI: exit code and what it printed. */
    record Verdict(int exit, String out) {
    }

    @BeforeEach
    void aChainOfOperatorActions() {
        String token = server.tenantWithOperator("acme", "alice", "tenant-admin");
        String auditor = server.operator("acme", "audrey", "auditor");
        for (int i = 1; i <= 4; i++) {
            server.createDevice(token, "thermo-000" + i, "thermo");
        }
        server.api().post("/api/v1/devices", auditor, Map.of("id", "x-1", "model", "m"));           // denied
        server.api().send("POST", "/api/v1/devices", token, "application/json", "{bad".getBytes());  // refused
        server.api().delete("/api/v1/devices/thermo-0004", token);
        last = server.count("SELECT MAX(seq) FROM audit_log");
        assertThat(last).isGreaterThanOrEqualTo(10);
    }

    private Verdict verify() {
        server.stop();
        List<String> args = new ArrayList<>(List.of("audit", "verify", "--data", server.dataDir().toString()));
        if (server.databaseUrl() != null) {
            args.add("--db");
            args.add(server.databaseUrl());
        }
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        int exit;
        try {
            exit = BulwarkCli.run(args.toArray(String[]::new));
        } finally {
            System.setOut(original);
        }
        server.restart();
        return new Verdict(exit, out.toString());
    }

    private void tamper(String sql, Object... args) {
        server.sql(h -> h.execute(sql, args));
    }

    private AuditRecord row(Handle h, long seq) {
        return h.createQuery("SELECT * FROM audit_log WHERE seq = :s").bind("s", seq).map(AuditLog.MAPPER).one();
    }

    @Test
    void an_intact_chain_verifies_ok_and_every_entry_carries_actor_tenant_action_target_source_time_and_outcome() {
        Verdict v = verify();
        assertThat(v.exit()).isZero();
        assertThat(v.out()).startsWith("OK: " + last + " audit entries");
        var rows = server.sql(h -> h.createQuery("SELECT * FROM audit_log WHERE tenant_id = 'acme' ORDER BY seq").mapToMap().list());
        assertThat(rows).extracting(r -> r.get("outcome")).contains("success", "denied", "refused");
        assertThat(rows).allSatisfy(r -> {
            // the tenant's own operators, or the platform provisioning the tenant's first operator (in the tenant's log too)
            if (((String) r.get("actor")).startsWith("operator:_platform/")) {
                assertThat(r.get("action")).isEqualTo("operator.create");
            } else {
                assertThat((String) r.get("actor")).startsWith("operator:acme/");
            }
            assertThat((String) r.get("source")).startsWith("127.0.0.1:");
            assertThat(((Number) r.get("time_ms")).longValue()).isPositive();
            assertThat((String) r.get("action")).isNotBlank();
        });
        assertThat(rows).anySatisfy(r -> {
            assertThat(r.get("action")).isEqualTo("device.delete");
            assertThat(r.get("target")).isEqualTo("device:thermo-0004");
        });
    }

    @Test
    void editing_a_field_of_an_entry_is_detected_and_the_entry_is_named() {
        long seq = server.sql(h -> h.createQuery("SELECT seq FROM audit_log WHERE outcome = 'denied'").mapTo(Long.class).one());
        tamper("UPDATE audit_log SET outcome = 'success' WHERE seq = ?", seq);
        Verdict v = verify();
        assertThat(v.exit()).isEqualTo(1);
        assertThat(v.out()).contains("TAMPERED: entry " + seq + ":").contains("edited");
    }

    @Test
    void editing_an_entry_and_recomputing_its_hash_is_detected_by_its_signed_checkpoint() {
        long seq = 5;
        server.sql(h -> {
            AuditRecord r = row(h, seq);
            String forged = AuditRecord.computeHash(r.prevHash(), r.seq(), r.timeMs(), r.tenantId(), "operator:acme/someone-else",
                    r.action(), r.target(), r.source(), r.outcome(), r.detail());
            return h.execute("UPDATE audit_log SET actor = 'operator:acme/someone-else', hash = ? WHERE seq = ?", forged, seq);
        });
        Verdict v = verify();
        assertThat(v.exit()).isEqualTo(1);
        assertThat(v.out()).contains("TAMPERED: entry " + seq + ":");
    }

    @Test
    void rewriting_the_whole_chain_after_an_edit_is_detected_because_the_checkpoints_cannot_be_re_signed() {
        long seq = 4;
        server.sql(h -> {
            h.execute("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = ?", seq);
            String prev = row(h, seq - 1).hash();
            for (long s = seq; s <= last; s++) {
                AuditRecord r = row(h, s);
                String hash = AuditRecord.computeHash(prev, r.seq(), r.timeMs(), r.tenantId(), r.actor(), r.action(), r.target(),
                        r.source(), r.outcome(), r.detail());
                h.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", prev, hash, s);
                h.execute("UPDATE audit_checkpoints SET hash = ? WHERE seq = ?", hash, s);
                prev = hash;
            }
            return h.execute("UPDATE audit_head SET hash = ? WHERE id = 1", prev);
        });
        Verdict v = verify();
        assertThat(v.exit()).isEqualTo(1);
        assertThat(v.out()).contains("TAMPERED: entry " + seq + ":").contains("checkpoint");
    }

    @Test
    void deleting_an_entry_is_detected_and_the_gap_is_named() {
        tamper("DELETE FROM audit_log WHERE seq = 6");
        tamper("DELETE FROM audit_checkpoints WHERE seq = 6");
        Verdict v = verify();
        assertThat(v.exit()).isEqualTo(1);
        assertThat(v.out()).contains("TAMPERED: entry 6:").contains("deleted");
    }

    @Test
    void reordering_two_entries_is_detected() {
        tamper("UPDATE audit_log SET seq = -1 WHERE seq = 5");
        tamper("UPDATE audit_log SET seq = 5 WHERE seq = 6");
        tamper("UPDATE audit_log SET seq = 6 WHERE seq = -1");
        Verdict v = verify();
        assertThat(v.exit()).isEqualTo(1);
        assertThat(v.out()).contains("TAMPERED: entry 5:");
    }

    @Test
    void deleting_the_newest_entries_with_their_checkpoints_and_head_is_detected_through_the_anchor() {
        server.sql(h -> {
            h.execute("DELETE FROM audit_log WHERE seq > ?", last - 2);
            h.execute("DELETE FROM audit_checkpoints WHERE seq > ?", last - 2);
            return h.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", last - 2, row(h, last - 2).hash());
        });
        Verdict v = verify();
        assertThat(v.exit()).isEqualTo(1);
        assertThat(v.out()).contains("TAMPERED: entry " + (last - 1) + ":").contains("newest entries deleted");
    }

    @Test
    void appending_a_forged_entry_is_detected_because_it_has_no_signed_checkpoint() {
        server.sql(h -> {
            AuditRecord tail = row(h, last);
            long seq = last + 1;
            String hash = AuditRecord.computeHash(tail.hash(), seq, tail.timeMs() + 1, "acme", "operator:acme/alice", "device.delete",
                    "device:thermo-0001", "127.0.0.1:1", "success", "");
            h.execute("INSERT INTO audit_log (seq, time_ms, tenant_id, actor, action, target, source, outcome, detail, prev_hash, hash) "
                    + "VALUES (?, ?, 'acme', 'operator:acme/alice', 'device.delete', 'device:thermo-0001', '127.0.0.1:1', 'success', '', ?, ?)",
                    seq, tail.timeMs() + 1, tail.hash(), hash);
            return h.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", seq, hash);
        });
        Verdict v = verify();
        assertThat(v.exit()).isEqualTo(1);
        assertThat(v.out()).contains("TAMPERED: entry " + (last + 1) + ":").contains("no signed checkpoint");
    }

    @Test
    void verify_without_a_database_or_data_directory_explains_what_it_needs() {
        PrintStream original = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true));
        try {
            assertThat(BulwarkCli.run("audit", "verify")).isEqualTo(2);
        } finally {
            System.setErr(original);
        }
        assertThat(err.toString()).contains("--data").doesNotContain("Exception");
    }
}
