package dev.bulwark.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code bulwark bench}: load generator and benchmarks. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks of a Bulwark node.",
        subcommands = {MqttBench.class, ApiBench.class, FloodBench.class, ClusterBench.class, CommandLine.HelpCommand.class})
public final class BenchCli implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(new CommandLine(new BenchCli()).execute(args));
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
