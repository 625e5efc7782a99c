// A YARN cluster on loopback for the Spark-on-YARN tests: Hadoop's
// MiniYARNCluster (a real ResourceManager with the CapacityScheduler and NODES real
// NodeManagers launching containers as processes, with its memory monitor), configured
// from KEY=VALUE arguments.
//
//   java -cp MINICLUSTER:HADOOP_CLIENT_JARS OrchardMiniYarn CONF_DIR NODES [KEY=VALUE ...]
//
// Once the NodeManagers have registered with the ResourceManager it writes the client's
// configuration (actual RPC and web addresses) to CONF_DIR/yarn-site.xml, prints one line
// "ORCHARD-MINIYARN READY <rm address> <rm web address>" and runs until its standard input
// closes or it is signalled; then it stops both daemons (the NodeManager kills its
// containers) before exiting, so the test leaves no process behind.
import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;
import org.apache.hadoop.yarn.server.resourcemanager.rmapp.RMApp;
import org.apache.hadoop.yarn.server.resourcemanager.rmnode.RMNode;

public final class OrchardMiniYarn {
  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: OrchardMiniYarn CONF_DIR NODES [KEY=VALUE ...]");
      System.exit(2);
    }
    File confDir = new File(args[0]);
    int nodes = Integer.parseInt(args[1]);
    YarnConfiguration conf = new YarnConfiguration();
    for (int i = 2; i < args.length; ++i) {
      int eq = args[i].indexOf('=');
      if (eq <= 0) {
        System.err.println("OrchardMiniYarn: expected KEY=VALUE, got " + args[i]);
        System.exit(2);
      }
      conf.set(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    MiniYARNCluster cluster = new MiniYARNCluster("orchard", nodes, 1, 1);
    Runtime.getRuntime().addShutdownHook(new Thread(cluster::stop));
    cluster.init(conf);
    cluster.start();
    if (!cluster.waitForNodeManagersToConnect(120_000)) {
      System.err.println("OrchardMiniYarn: the NodeManagers did not register within 120 s");
      System.exit(1);
    }
    Configuration live = cluster.getConfig();
    if (!confDir.isDirectory() && !confDir.mkdirs()) {
      System.err.println("OrchardMiniYarn: cannot create " + confDir);
      System.exit(1);
    }
    File target = new File(confDir, "yarn-site.xml");
    File partial = new File(confDir, "yarn-site.xml.tmp");
    try (OutputStream out = new FileOutputStream(partial)) {
      live.writeXml(out);
    }
    if (!partial.renameTo(target)) {
      System.err.println("OrchardMiniYarn: cannot write " + target);
      System.exit(1);
    }
    ResourceManager rm = cluster.getResourceManager();
    // What the scheduler will hand out, as the ResourceManager sees the registered node.
    for (RMNode node : rm.getRMContext().getRMNodes().values()) {
      System.out.println("ORCHARD-MINIYARN NODE " + node.getNodeID() + " memory_mb="
                         + node.getTotalCapability().getMemorySize()
                         + " vcores=" + node.getTotalCapability().getVirtualCores());
    }
    System.out.println("ORCHARD-MINIYARN READY " + live.get(YarnConfiguration.RM_ADDRESS));
    System.out.flush();
    // "apps" on standard input: one line per application the ResourceManager knows (its
    // final state and diagnostics), then END. End of input: stop.
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (!line.trim().equals("apps")) continue;
      for (RMApp app : rm.getRMContext().getRMApps().values()) {
        String diagnostics = app.getDiagnostics().toString().replaceAll("\\s+", " ").trim();
        System.out.println("ORCHARD-MINIYARN APP " + app.getApplicationId() + " state=" + app.getState()
                           + " final=" + app.getFinalApplicationStatus() + " diagnostics=" + diagnostics);
      }
      System.out.println("ORCHARD-MINIYARN END");
      System.out.flush();
    }
    cluster.stop();
    System.exit(0);
  }
}
