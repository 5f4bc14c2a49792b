// Checks that a Connect worker can reach its own REST API the way it reaches other workers of its
// group (forwarded requests go to the leader's advertised URL): it builds Connect's own
// RestClient from the worker's config file (so the listeners.https.* TLS settings are the ones
// the worker uses), and GETs /connectors at the URL that rest.advertised.listener,
// rest.advertised.host.name and rest.advertised.port advertise. A forwarded request carries the
// caller's Authorization header; give one with a user and a password file (basic auth).
//   java -cp 'libs/*' tools/ConnectRestCheck.java <worker.properties> [<user> <password file>]
// Prints the advertised URL and the connector names; exits 1 if the request fails.
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import com.fasterxml.jackson.core.type.TypeReference;

import jakarta.ws.rs.core.HttpHeaders;

import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.connect.runtime.distributed.DistributedConfig;
import org.apache.kafka.connect.runtime.rest.RestClient;

public class ConnectRestCheck {
    public static void main(String[] args) throws Exception {
        if (args.length != 1 && args.length != 3) {
            System.err.println("usage: ConnectRestCheck <worker.properties> [<user> <password file>]");
            System.exit(2);
        }
        Properties props = Utils.loadProps(args[0]);
        Map<String, String> map = Utils.propsToStringMap(props);
        DistributedConfig config = new DistributedConfig(map);
        String url = map.get("rest.advertised.listener") + "://" + map.get("rest.advertised.host.name") + ":"
            + map.get("rest.advertised.port") + "/connectors";
        String authorization = null;
        if (args.length == 3) {
            String password = Files.readString(Path.of(args[2]), StandardCharsets.UTF_8).strip();
            authorization = "Basic " + Base64.getEncoder()
                .encodeToString((args[1] + ":" + password).getBytes(StandardCharsets.UTF_8));
        }
        // RestClient reads only the Authorization header of the incoming request it forwards.
        final String auth = authorization;
        HttpHeaders headers = (HttpHeaders) Proxy.newProxyInstance(HttpHeaders.class.getClassLoader(),
            new Class<?>[] {HttpHeaders.class},
            (proxy, method, margs) -> method.getName().equals("getHeaderString")
                && HttpHeaders.AUTHORIZATION.equalsIgnoreCase((String) margs[0]) ? auth : null);
        try {
            RestClient.HttpResponse<List<String>> response = new RestClient(config)
                .httpRequest(url, "GET", headers, null, new TypeReference<List<String>>() { });
            System.out.println(url + " -> " + response.status() + " " + response.body());
        } catch (Exception e) {
            System.out.println(url + " -> FAILED: " + e);
            System.exit(1);
        }
    }
}
