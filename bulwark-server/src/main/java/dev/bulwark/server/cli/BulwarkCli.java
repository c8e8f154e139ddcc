package dev.bulwark.server.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code bulwark} command: {@code serve} and the tools ({@code firmware}, {@code audit}). The runnable
 * {@code bulwark.jar} (module bulwark-app) adds the commands that drive simulated devices ({@code demo},
 * {@code simulate}) through {@link #commandLine(Object...)}.
 */
@Command(name = "bulwark", mixinStandardHelpOptions = true, version = "bulwark 0.1.0",
        description = "Secure-by-default backend for IoT device fleets.")
public final class BulwarkCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command with the server's own subcommands only. */
    public static int run(String... args) {
        return execute(commandLine(), args);
    }

    /**
     * The command line: {@code serve}, then {@code more} (picocli {@code @Command} objects, listed in this
     * order in the help), then {@code firmware}, {@code audit} and {@code help}.
     */
    public static CommandLine commandLine(Object... more) {
        CommandLine cl = new CommandLine(new BulwarkCli());
        cl.addSubcommand(new ServeCommand());
        for (Object command : more) {
            cl.addSubcommand(command);
        }
        cl.addSubcommand(new FirmwareCommand());
        cl.addSubcommand(new AuditCommand());
        cl.addSubcommand(new CommandLine.HelpCommand());
        return cl;
    }

    /** Executes {@code args} on {@code cl}; a failure prints {@code bulwark: <message>} and exits 2. */
    public static int execute(CommandLine cl, String... args) {
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
