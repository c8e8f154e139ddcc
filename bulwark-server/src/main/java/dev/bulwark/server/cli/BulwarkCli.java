package dev.bulwark.server.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code bulwark} command. */
@Command(name = "bulwark", mixinStandardHelpOptions = true, version = "bulwark 0.1.0",
        description = "Secure-by-default backend for IoT device fleets.",
        subcommands = {ServeCommand.class, DemoCommand.class, SimulateCommand.class, FirmwareCommand.class, AuditCommand.class, CommandLine.HelpCommand.class})
public final class BulwarkCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cl = new CommandLine(new BulwarkCli());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("bulwark: " + ex.getMessage());
            return 2;
        });
        return cl.execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
