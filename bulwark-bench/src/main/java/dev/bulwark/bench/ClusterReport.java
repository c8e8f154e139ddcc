package dev.bulwark.bench;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The Markdown tables of {@code bench cluster}. */
final class ClusterReport {
    private ClusterReport() {
    }

    static void print(PrintStream out, ClusterBench bench, List<ClusterBench.Run> runs, ClusterBench.Latency latency) {
        out.println();
        out.println("### QoS 1 throughput and CPU per message");
        out.println();
        out.println(bench.describe());
        out.println();
        out.println("| run | nodes | QoS 1 acks/s | PUBACK p50 ms | PUBACK p99 ms | CPU µs/msg per node | nodes' CPU µs/msg "
                + "| vs standalone | Kafka broker CPU µs/msg | load generator CPU µs/msg | errors |");
        out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        double standalone = runs.isEmpty() ? Double.NaN : nodesCpuPerMessage(runs.get(0));
        for (ClusterBench.Run r : runs) {
            QosLoad.Result l = r.load();
            List<String> perNode = new ArrayList<>();
            for (int i = 0; i < r.nodes(); i++) {
                perNode.add(perMessage(r.nodeCpu()[i], l.ackedPerNode()[i]));
            }
            double total = nodesCpuPerMessage(r);
            boolean isStandalone = r.label().equals("standalone");
            out.println(String.format(Locale.ROOT, "| %s | %d | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s | %d |",
                    r.label(), r.nodes(), l.acksPerSecond(), l.latency().p50Ms(), l.latency().p99Ms(), String.join(" / ", perNode),
                    Double.isNaN(total) ? "n/a" : String.format(Locale.ROOT, "%.0f", total),
                    Double.isNaN(total) || !(standalone > 0) ? "n/a" : String.format(Locale.ROOT, "%.2fx", total / standalone),
                    isStandalone ? "—" : r.brokerCpu() < 0 ? "(external)" : perMessage(r.brokerCpu(), l.acked()),
                    perMessage(r.generatorCpu(), l.acked()), l.errors()));
        }
        if (latency == null) {
            return;
        }
        out.println();
        out.println("### Cross-node latency (3-node cluster)");
        out.println();
        out.println("| measurement | samples | p50 ms | p99 ms | note |");
        out.println("|---|---|---|---|---|");
        out.println(row("quarantine through node-0's API of a device on node-2: request → its connection closed", latency.quarantine(), latency));
        out.println(row("takeover: the identity connected to node-0 connects to node-1: 2nd CONNACK → 1st connection closed",
                latency.takeover(), latency));
        NorthboundLag.Result n = latency.northbound();
        String what = "northbound lag: PUBACK at the device → record at a consumer of `" + latency.topic() + "`";
        if (n.lag().count() == 0) {
            out.println("| " + what + " | 0 | n/a | n/a | n/a (" + (n.records() == 0 ? "no northbound records"
                    : n.records() + " records, none matched to a PUBACK of the measured interval") + ") |");
        } else {
            out.println(String.format(Locale.ROOT, "| %s | %d | %.1f | %.1f | %s |", what, n.lag().count(), n.lag().p50Ms(), n.lag().p99Ms(),
                    n.unmatched() == 0 ? "" : n.unmatched() + " records without a bench device"));
        }
    }

    /** All nodes' CPU microseconds per acknowledged message; NaN when a node's CPU could not be read. */
    private static double nodesCpuPerMessage(ClusterBench.Run r) {
        long cpu = 0;
        for (long c : r.nodeCpu()) {
            if (c < 0) {
                return Double.NaN;
            }
            cpu += c;
        }
        return r.load().acked() == 0 ? Double.NaN : (double) cpu / r.load().acked();
    }

    private static String perMessage(long micros, long messages) {
        return micros < 0 || messages == 0 ? "n/a" : String.format(Locale.ROOT, "%.0f", (double) micros / messages);
    }

    private static String row(String what, CrossNodeLatency.Outcome o, ClusterBench.Latency latency) {
        long timeout = latency.timeout().toSeconds();
        List<String> notes = new ArrayList<>();
        if (o.notClosed() > 0) {
            notes.add(o.notClosed() + " of " + o.attempts() + " not closed within " + timeout + " s");
        }
        if (o.failed() > 0) {
            notes.add(o.failed() + " failed (" + o.problem() + ")");
        }
        if (o.latency().count() == 0) {
            return "| " + what + " | 0 | n/a | n/a | n/a (" + (notes.isEmpty() ? "no attempts" : String.join("; ", notes)) + ") |";
        }
        return String.format(Locale.ROOT, "| %s | %d | %.1f | %.1f | %s |", what, o.latency().count(), o.latency().p50Ms(),
                o.latency().p99Ms(), String.join("; ", notes));
    }
}
