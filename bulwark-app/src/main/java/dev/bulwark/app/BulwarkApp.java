package dev.bulwark.app;

import dev.bulwark.server.cli.BulwarkCli;
import picocli.CommandLine;

/**
 * The process entry point of {@code bulwark.jar}: the server's {@link BulwarkCli} with the commands that drive
 * simulated devices through the device SDK ({@code demo}, {@code simulate}). The server itself never depends on
 * the SDK; this module depends on both.
 */
public final class BulwarkApp {
    private BulwarkApp() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        return BulwarkCli.execute(commandLine(), args);
    }

    /** {@code serve}, {@code demo}, {@code simulate}, then the server's tools, in the order the help lists them. */
    public static CommandLine commandLine() {
        return BulwarkCli.commandLine(new DemoCommand(), new SimulateCommand());
    }
}
