package dev.bulwark.server.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import java.util.Set;
import org.jdbi.v3.core.Handle;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SQL lives in the stores. The classes that face the network (routes, listeners, endpoints, servers,
 * sessions, authenticators, and everything in the {@code mqtt}, {@code devicehttp} and {@code http}
 * packages) never touch JDBC or JDBI themselves: they may open a unit of work ({@code Database.tx/read},
 * {@code Call.tx/read}) and hand its {@link Handle} on to the stores, nothing more. Statements run only in
 * the store package, in classes named {@code …Store} or {@code …Log}, and in migrations.
 */
class JdbcAccessTest {
    /** The {@link Handle} methods that run a statement. */
    static final Set<String> STATEMENTS = Set.of("createQuery", "createUpdate", "execute", "prepareBatch", "createCall",
            "createBatch", "createScript", "select");

    static JavaClasses classes;

    @BeforeAll
    static void importServer() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.bulwark.server", "db.migration");
    }

    static final DescribedPredicate<JavaClass> FACING_THE_NETWORK = DescribedPredicate.describe(
            "face the network (…Routes, …Listener, …Endpoint, …Server, …Session, …Authenticator, or in mqtt, devicehttp, http, ingress)",
            c -> {
                String name = topLevel(c).getSimpleName();
                return name.endsWith("Routes") || name.endsWith("Listener") || name.endsWith("Endpoint") || name.endsWith("Server")
                        || name.endsWith("Session") || name.endsWith("Authenticator")
                        || c.getPackageName().matches("dev\\.bulwark\\.server\\.(mqtt|devicehttp|http|ingress)(\\..*)?");
            });

    static final DescribedPredicate<JavaClass> MAY_RUN_STATEMENTS = DescribedPredicate.describe(
            "are in the store package, named …Store, …Log or …Migration, or migrations",
            c -> {
                String name = topLevel(c).getSimpleName();
                return c.getPackageName().matches("dev\\.bulwark\\.server\\.store(\\..*)?") || c.getPackageName().startsWith("db.migration")
                        || name.endsWith("Store") || name.endsWith("Log") || name.endsWith("Migration");
            });

    static final DescribedPredicate<JavaMethodCall> JDBI_CALL = DescribedPredicate.describe("a method of JDBI (org.jdbi..)",
            call -> call.getTargetOwner().getPackageName().startsWith("org.jdbi"));

    static final DescribedPredicate<JavaMethodCall> STATEMENT_CALL = DescribedPredicate.describe(
            "Handle." + STATEMENTS + " (runs a statement)",
            call -> call.getTargetOwner().isAssignableTo(Handle.class) && STATEMENTS.contains(call.getName()));

    static ArchRule networkFacingClassesTouchNeitherJdbcNorJdbi() {
        return noClasses().that(FACING_THE_NETWORK)
                .should().dependOnClassesThat().resideInAPackage("java.sql..")
                .orShould().callMethodWhere(JDBI_CALL)
                .because("routes, listeners and authenticators hand the unit of work to the stores; SQL lives there");
    }

    static ArchRule onlyStoresRunStatements() {
        return noClasses().that(DescribedPredicate.not(MAY_RUN_STATEMENTS))
                .should().callMethodWhere(STATEMENT_CALL)
                .because("every statement is in a store, where its tenant key can be checked");
    }

    @Test
    void routes_listeners_and_authenticators_never_touch_jdbc_or_jdbi() {
        networkFacingClassesTouchNeitherJdbcNorJdbi().check(classes);
    }

    @Test
    void only_stores_logs_and_migrations_run_sql_statements() {
        onlyStoresRunStatements().check(classes);
    }

    private static JavaClass topLevel(JavaClass c) {
        JavaClass t = c;
        while (t.getEnclosingClass().isPresent()) {
            t = t.getEnclosingClass().get();
        }
        return t;
    }
}
