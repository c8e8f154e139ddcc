package dev.bulwark.server.architecture;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import com.tngtech.archunit.library.dependencies.Slices;
import com.tngtech.archunit.core.domain.JavaClass;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * No package of the node depends, directly or through others, on itself. Every package is its own slice,
 * {@code dev.bulwark.server} itself included (the composition root {@code BulwarkServer} may use every
 * package, so no package may use it back). The protocol and device SDK trees keep the same rule.
 */
class PackageCycleTest {

    private static final JavaClasses MAIN = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("dev.bulwark.server", "dev.bulwark.protocol", "dev.bulwark.device");

    @Test
    void server_packages_are_free_of_cycles() {
        rule("dev.bulwark.server").check(MAIN);
    }

    @Test
    void protocol_packages_are_free_of_cycles() {
        rule("dev.bulwark.protocol").check(MAIN);
    }

    @Test
    void device_sdk_packages_are_free_of_cycles() {
        rule("dev.bulwark.device").check(MAIN);
    }

    /** Every package is a slice, the root package too: a cycle through {@code BulwarkServer} would be seen. */
    @Test
    void every_server_package_is_a_slice_of_its_own() {
        Set<String> packages = MAIN.stream().map(JavaClass::getPackageName)
                .filter(p -> p.startsWith("dev.bulwark.server")).collect(Collectors.toSet());
        Set<String> slices = Slices.assignedFrom(packages("dev.bulwark.server")).transform(MAIN).stream()
                .map(s -> s.getDescription().replaceFirst("^Slice ", "")).collect(Collectors.toSet());
        assertThat(slices).contains("dev.bulwark.server").isEqualTo(packages);
    }

    private static ArchRule rule(String root) {
        return slices().assignedFrom(packages(root)).should().beFreeOfCycles();
    }

    /**
     * The same slices as {@code slices().matching(root + ".(**)")}, one per package, plus the root package
     * itself, which that pattern leaves out (its capture needs at least one package below the root).
     */
    private static SliceAssignment packages(String root) {
        return new SliceAssignment() {
            @Override
            public SliceIdentifier getIdentifierOf(JavaClass c) {
                String p = c.getPackageName();
                return p.equals(root) || p.startsWith(root + ".") ? SliceIdentifier.of(p) : SliceIdentifier.ignore();
            }

            @Override
            public String getDescription() {
                return "every package of " + root;
            }
        };
    }
}
