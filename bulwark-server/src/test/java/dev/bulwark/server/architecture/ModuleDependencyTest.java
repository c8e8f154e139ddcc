package dev.bulwark.server.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The server stands on its own: its main code uses neither the device SDK nor the application module that
 * runs the demo and the fleet simulator (bulwark-app depends on the server, never the other way round).
 * The tests may use the SDK as a real client; they are not imported here.
 */
class ModuleDependencyTest {
    private static JavaClasses server;

    @BeforeAll
    static void importServer() {
        server = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("dev.bulwark.server");
    }

    @Test
    void the_server_does_not_depend_on_the_device_sdk() {
        noClasses().that().resideInAPackage("dev.bulwark.server..")
                .should().dependOnClassesThat().resideInAPackage("dev.bulwark.device..")
                .because("devices reach the server over MQTT and HTTPS only; the SDK is a client, the demo and the simulator live in bulwark-app")
                .check(server);
    }

    @Test
    void the_server_does_not_depend_on_the_application_module() {
        noClasses().that().resideInAPackage("dev.bulwark.server..")
                .should().dependOnClassesThat().resideInAPackage("dev.bulwark.app..")
                .because("bulwark-app assembles the server with the SDK-driven commands; the server must not reach back into it")
                .check(server);
    }
}
