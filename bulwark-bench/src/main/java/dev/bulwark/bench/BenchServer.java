package dev.bulwark.bench;

import dev.bulwark.server.BulwarkServer;
import dev.bulwark.server.cli.ServerOptions;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The benchmark-only way to start a node: {@code bulwark serve}'s options, plus {@code --plaintext-payloads},
 * which stores device payloads unencrypted to measure what sealing costs. That switch exists only here, in the
 * benchmark module: {@code bulwark serve} has no option that turns sealing off, so no production node can be
 * started with it. The benchmarks run this in a child JVM ({@link BenchNode}).
 */
@Command(name = "bench-server", description = "BENCHMARKING ONLY: a Bulwark node that may store payloads unencrypted")
public final class BenchServer implements Callable<Integer> {
    @Mixin
    ServerOptions options;

    @Option(names = "--plaintext-payloads", description = "BENCHMARKING ONLY: store device payloads unencrypted")
    boolean plaintextPayloads;

    @Option(names = "--exit-with-parent", hidden = true,
            description = "Stop when standard input closes: the benchmark that started this node is gone")
    boolean exitWithParent;

    public static void main(String[] args) {
        System.exit(new CommandLine(new BenchServer()).execute(args));
    }

    @Override
    public Integer call() throws InterruptedException {
        if (exitWithParent) {
            // watched from the start: a node still starting (waiting for Kafka, say) goes with its parent too
            Thread watch = new Thread(BenchNode::exitWhenParentGoes, "bench-server-parent-watch");
            watch.setDaemon(true);
            watch.start();
        }
        BulwarkServer server = BulwarkServer.start(options.toConfig().toBuilder().plaintextPayloads(plaintextPayloads).build());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "bench-server-shutdown"));
        stopped.await();
        return 0;
    }
}
