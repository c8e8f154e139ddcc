package dev.bulwark.server.testkit;

import dev.bulwark.server.cli.ApiClient;
import dev.bulwark.server.config.ServerConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.Parameter;

/**
 * A fresh node for every test, on the backend the class is parameterized with. Subclasses declare
 * {@code @ParameterizedClass @EnumSource(Backend.class)} and may override {@link #configure}.
 */
public abstract class NodePerTest {
    @Parameter
    protected Backend backend;

    protected TestServer server;
    protected ApiClient api;

    @BeforeEach
    void startNode() {
        server = TestServer.start(backend, this::configure);
        api = server.api();
    }

    @AfterEach
    void stopNode() {
        server.close();
    }

    /** Settings of the node under test; the defaults unless overridden. */
    protected void configure(ServerConfig.Builder settings) {
    }
}
