package dev.bulwark.bench;

import dev.bulwark.server.testkit.KafkaBroker;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Kafka broker of {@code bench cluster}: either one given with {@code --kafka}, or a real single-node KRaft
 * broker (the server test kit's {@link KafkaBroker}) in a child JVM of its own, so that its CPU is counted apart
 * from the nodes' and the load generator's. The child stops with the benchmark: on {@link #close()}, and by
 * itself when the benchmark's JVM goes away (its standard input closes).
 */
final class BenchKafka implements AutoCloseable {
    private final String bootstrap;
    private final Process process;
    private boolean closed;

    private BenchKafka(String bootstrap, Process process) {
        this.bootstrap = bootstrap;
        this.process = process;
    }

    /** A broker the benchmark does not own (it only deletes the topics it made). */
    static BenchKafka external(String bootstrap) {
        return new BenchKafka(bootstrap, null);
    }

    /** Starts a broker in a child JVM; its log goes to {@code dir/kafka.log}. */
    static BenchKafka start(Path dir) throws Exception {
        Path ready = dir.resolve("kafka.bootstrap");
        Path log = dir.resolve("kafka.log");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(List.of(java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                BenchKafka.class.getName(), ready.toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        BenchKafka kafka = new BenchKafka(null, p);
        try {
            for (int i = 0; i < 1200; i++) {
                if (Files.exists(ready)) {
                    return new BenchKafka(Files.readString(ready).trim(), p);
                }
                if (!p.isAlive()) {
                    throw new IllegalStateException("the Kafka broker exited: " + Files.readString(log));
                }
                Thread.sleep(50);
            }
            throw new IllegalStateException("the Kafka broker did not start within 60 s; see " + log);
        } catch (Exception e) {
            kafka.close();
            throw e;
        }
    }

    String bootstrap() {
        return bootstrap;
    }

    /** The broker's process id, or -1 for an external broker. */
    long pid() {
        return process == null ? -1 : process.pid();
    }

    @Override
    public synchronized void close() {
        if (closed || process == null) {
            return;
        }
        closed = true;
        process.destroy();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** The child JVM: starts the broker, names its address in the file given, runs until stopped or orphaned. */
    public static void main(String[] args) throws IOException {
        KafkaBroker broker = KafkaBroker.start();
        Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "bench-kafka-shutdown"));
        Path ready = Path.of(args[0]);
        Path tmp = ready.resolveSibling(ready.getFileName() + ".tmp");
        Files.writeString(tmp, broker.bootstrap() + "\n");
        Files.move(tmp, ready, StandardCopyOption.ATOMIC_MOVE);
        BenchNode.exitWhenParentGoes();
    }
}
