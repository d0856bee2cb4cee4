package dev.netaiops.opensearch;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.settings.Settings;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/** One OpenSearch node on 127.0.0.1: java LocalOpenSearch HOME HTTP_PORT TRANSPORT_PORT. Prints READY. */
public final class LocalOpenSearch {

    static final class LocalNode extends Node {
        LocalNode(Settings settings, Collection<Class<? extends Plugin>> plugins) {
            super(InternalSettingsPreparer.prepareEnvironment(settings, new HashMap<>(), null, () -> "local"), plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        String home = args[0];
        Settings settings = Settings.builder()
            .put("cluster.name", "incident-operator-tests")
            .put("node.name", "local")
            .put("path.home", home)
            .put("path.data", home + "/data")
            .put("path.logs", home + "/logs")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", args[2])
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("discovery.type", "single-node")
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        Node node = new LocalNode(settings, List.of(Netty4Plugin.class));
        node.start();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            }
            stopped.countDown();
        }));
        System.out.println("READY");
        System.out.flush();
        stopped.await();
    }
}
