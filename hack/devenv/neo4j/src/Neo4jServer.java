// Runs Neo4j Community embedded with a Bolt connector on loopback, for the local environment only.
// Usage: java -cp 'lib/*:classes' Neo4jServer <homeDir> <boltPort> <passwordFile> <pagecache, e.g. 256m>
import java.nio.file.Path;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

public final class Neo4jServer {
  public static void main(String[] args) throws Exception {
    Path home = Path.of(args[0]);
    int port = Integer.parseInt(args[1]);
    String password = java.nio.file.Files.readString(Path.of(args[2])).trim();
    long pagecache = ByteUnit.parse(args.length > 3 ? args[3] : "256m");
    DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
        .setConfig(BoltConnector.enabled, true)
        .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
        .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
        .setConfig(HttpConnector.enabled, false)
        .setConfig(GraphDatabaseSettings.auth_enabled, true)
        .setConfig(GraphDatabaseSettings.pagecache_memory, pagecache)
        .build();
    Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown));
    // The default user starts with password "neo4j" and a forced change; set ours without the change.
    // On a restart over existing data the password is already ours, which Neo4j refuses to "change".
    try {
      dbms.database("system").executeTransactionally(
          "ALTER USER neo4j SET PASSWORD $p CHANGE NOT REQUIRED", java.util.Map.of("p", password));
    } catch (RuntimeException e) {
      if (!String.valueOf(e.getMessage()).contains("cannot be the same")
          && !(e.getCause() != null && String.valueOf(e.getCause().getMessage()).contains("cannot be the same"))) {
        e.printStackTrace();
        System.exit(1);
      }
    }
    System.out.println("READY bolt://127.0.0.1:" + port);
    System.out.flush();
    Thread.currentThread().join();
  }
}
