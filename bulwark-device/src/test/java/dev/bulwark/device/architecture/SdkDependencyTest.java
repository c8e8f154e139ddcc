package dev.bulwark.device.architecture;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideOutsideOfPackages;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The device SDK is built on the shared protocol only: no server, application or other Bulwark code. */
class SdkDependencyTest {

    @Test
    void the_sdk_depends_on_no_bulwark_code_but_the_protocol() {
        JavaClasses sdk = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("dev.bulwark.device");
        noClasses().that().resideInAPackage("dev.bulwark.device..")
                .should().dependOnClassesThat(resideInAPackage("dev.bulwark..").and(resideOutsideOfPackages("dev.bulwark.device..", "dev.bulwark.protocol..")))
                .because("the SDK runs on devices and talks to the server over MQTT and HTTPS only; it shares nothing with it but bulwark-protocol")
                .check(sdk);
    }
}
