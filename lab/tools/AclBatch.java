// Runs Kafka's own org.apache.kafka.tools.AclCommand once per line of a batch file, all in ONE
// JVM: the lab adds about ten ACL sets and a JVM start costs a second or more on this machine.
// Launched by kafka-lab as a single-file program: java -cp 'libs/*' tools/AclBatch.java <file>
// A line holds AclCommand's arguments separated by TABs (so paths with blanks survive; no
// quoting); blank lines and lines starting with '#' are skipped. AclCommand.main returns normally
// on success and exits the JVM with status 1 on any error, so a failure stops the batch.
import java.nio.file.Files;
import java.nio.file.Path;

public class AclBatch {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: AclBatch <batch file>");
            System.exit(2);
        }
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            String trimmed = line.strip();  // strip() drops the edge TABs only
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            System.out.println("### AclCommand " + trimmed);
            org.apache.kafka.tools.AclCommand.main(trimmed.split("\t"));
        }
    }
}
