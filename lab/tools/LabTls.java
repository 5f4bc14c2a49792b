// The secured lab's certificates, made with the JDK's own keytool, all in ONE JVM: the lab needs
// about forty keytool commands (two CAs, seven signed certificates) and a JVM start costs a
// second or more on this machine. keytool cannot export a private key, so this tool also writes
// the PEM files that non-Java clients (librdkafka, rustls, curl) read.
//
// Launched by kafka-lab as a single-file program (keytool's class is not exported by java.base):
//   java --add-exports java.base/sun.security.tools.keytool=ALL-UNNAMED tools/LabTls.java <batch>
// A batch line holds TAB-separated words (no quoting); blank lines and '#' lines are skipped:
//   keytool <keytool arguments...>     runs keytool (it exits the JVM with status 1 on an error,
//                                      so a failure stops the batch)
//   pem <p12> <password file> <alias> <out prefix>
//                                      reads the key entry <alias> of a PKCS#12 keystore and writes
//                                      <out prefix>-key.pem       the private key, UNENCRYPTED PKCS#8
//                                                                 ("BEGIN PRIVATE KEY")
//                                      <out prefix>-cert.pem      the certificate chain, leaf first
//                                      <out prefix>-keystore.pem  the key, then the chain
// Files are created with the caller's umask (kafka-lab runs this under umask 077).
import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.util.Base64;
import java.util.List;

public class LabTls {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: LabTls <batch file>");
            System.exit(2);
        }
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            String[] words = trimmed.split("\t");
            String[] rest = java.util.Arrays.copyOfRange(words, 1, words.length);
            switch (words[0]) {
                case "keytool":
                    // Passwords are given as -storepass:file <file>, so the log holds none.
                    System.out.println("### keytool " + String.join(" ", rest));
                    sun.security.tools.keytool.Main.main(rest);
                    break;
                case "pem":
                    if (rest.length != 4) {
                        fail("pem takes <p12> <password file> <alias> <out prefix>: " + trimmed);
                    }
                    System.out.println("### pem " + String.join(" ", rest));
                    pem(Path.of(rest[0]), Path.of(rest[1]), rest[2], rest[3]);
                    break;
                default:
                    fail("unknown batch command: " + words[0]);
            }
        }
    }

    private static void fail(String message) {
        System.err.println("LabTls: " + message);
        System.exit(1);
    }

    private static void pem(Path p12, Path passwordFile, String alias, String prefix) throws Exception {
        // keytool's -storepass:file reads the first line of the file: do the same.
        List<String> lines = Files.readAllLines(passwordFile, StandardCharsets.UTF_8);
        char[] password = (lines.isEmpty() ? "" : lines.get(0)).toCharArray();
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(p12.toFile())) {
            ks.load(in, password);
        }
        Key key = ks.getKey(alias, password);
        if (!(key instanceof PrivateKey)) {
            fail(p12 + " has no private key entry '" + alias + "'");
        }
        if (!"PKCS#8".equals(key.getFormat())) {
            fail(p12 + ": key '" + alias + "' encodes as " + key.getFormat() + ", not PKCS#8");
        }
        Certificate[] chain = ks.getCertificateChain(alias);
        if (chain == null || chain.length == 0) {
            fail(p12 + " has no certificate chain for '" + alias + "'");
        }
        String keyPem = block("PRIVATE KEY", key.getEncoded());
        StringBuilder chainPem = new StringBuilder();
        for (Certificate cert : chain) {
            chainPem.append(block("CERTIFICATE", cert.getEncoded()));
        }
        write(Path.of(prefix + "-key.pem"), keyPem);
        write(Path.of(prefix + "-cert.pem"), chainPem.toString());
        write(Path.of(prefix + "-keystore.pem"), keyPem + chainPem);
    }

    private static String block(String type, byte[] der) {
        String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n";
    }

    private static void write(Path file, String content) throws Exception {
        Files.deleteIfExists(file);
        Files.writeString(file, content, StandardCharsets.US_ASCII);
    }
}
