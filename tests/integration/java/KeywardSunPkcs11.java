/*
 * Java's SunPKCS11 provider over libkeyward-pkcs11.so, driven by
 * test_java_pkcs11.py: loads the "PKCS11" KeyStore with a keyward token as
 * PIN, lists its aliases, and for every private key signs a message through
 * the module and verifies the signature with the JDK's own providers
 * (SunEC, SunRsaSign), which never see the module.
 *
 * Usage: java KeywardSunPkcs11 <SunPKCS11 config file> <message file>
 * The PIN comes from $KEYWARD_JAVA_PIN, so it is not in the command line.
 *
 * Output, one fact per line for the test to check:
 *   provider <name>
 *   offers <algorithm> <yes|no>
 *   alias <alias>
 *   key <alias> <algorithm> encoded=<null|present> <P11Key description>
 *   cert <alias> self-signed-verified
 *   sig <alias> <algorithm> <signing provider> <verifying provider> <hex>
 *   done
 * Any failed check throws, so the JVM exits non-zero with a stack trace.
 */

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.AlgorithmParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;

public final class KeywardSunPkcs11 {
	/* The salt length TLS 1.3 and most PSS users pick: the hash's size. */
	private static final PSSParameterSpec PSS_SHA256 = new PSSParameterSpec(
			"SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1);

	private static final String[] OPTIONAL = { "RSASSA-PSS", "SHA256withRSASSA-PSS" };

	private final Provider p11;
	private final byte[] message;

	private KeywardSunPkcs11(Provider p11, byte[] message)
	{
		this.p11 = p11;
		this.message = message;
	}

	public static void main(String[] args) throws Exception
	{
		if (args.length != 2)
			throw new IllegalArgumentException("usage: KeywardSunPkcs11 <config> <message file>");
		String pin = System.getenv("KEYWARD_JAVA_PIN");
		if (pin == null)
			throw new IllegalStateException("KEYWARD_JAVA_PIN is not set");

		/* configure() returns a new provider instance; it is not added to
		 * the provider list, so getInstance() without a provider can never
		 * pick the module. */
		Provider p11 = Security.getProvider("SunPKCS11").configure(args[0]);
		System.out.println("provider " + p11.getName());
		for (String alg : OPTIONAL)
			System.out.println("offers " + alg + " "
					+ (p11.getService("Signature", alg) != null ? "yes" : "no"));

		KeyStore ks = KeyStore.getInstance("PKCS11", p11);
		ks.load(null, pin.toCharArray());
		List<String> aliases = Collections.list(ks.aliases());
		Collections.sort(aliases);
		for (String alias : aliases)
			System.out.println("alias " + alias);

		KeywardSunPkcs11 run = new KeywardSunPkcs11(p11, Files.readAllBytes(Path.of(args[1])));
		for (String alias : aliases)
			if (ks.isKeyEntry(alias))
				run.checkEntry(ks, alias);
		System.out.println("done");
	}

	private void checkEntry(KeyStore ks, String alias) throws Exception
	{
		PrivateKey key = (PrivateKey) ks.getKey(alias, null);
		X509Certificate cert = (X509Certificate) ks.getCertificate(alias);
		if (key == null || cert == null)
			throw new IllegalStateException(alias + ": key entry without key or certificate");
		/* A sensitive key has no encoding: its value never left keyward. */
		System.out.println("key " + alias + " " + key.getAlgorithm() + " encoded="
				+ (key.getEncoded() == null ? "null" : "present") + " " + key);

		PublicKey pub = cert.getPublicKey();
		/* The certificate was signed by keyward with this very key. */
		cert.verify(pub);
		System.out.println("cert " + alias + " self-signed-verified");

		for (String alg : algorithmsFor(key.getAlgorithm()))
			signAndVerify(alias, alg, key, pub);
	}

	private List<String> algorithmsFor(String keyAlgorithm)
	{
		List<String> algs = new ArrayList<>();
		if (keyAlgorithm.equals("EC")) {
			algs.add("SHA256withECDSA");
		} else if (keyAlgorithm.equals("RSA")) {
			algs.add("SHA256withRSA");
			for (String alg : OPTIONAL)
				if (p11.getService("Signature", alg) != null)
					algs.add(alg);
		} else {
			throw new IllegalStateException("unexpected key algorithm " + keyAlgorithm);
		}
		return algs;
	}

	private static AlgorithmParameterSpec paramsFor(String alg)
	{
		return alg.endsWith("RSASSA-PSS") ? PSS_SHA256 : null;
	}

	/* The JDK's own providers have no SHA256withRSASSA-PSS: its signatures
	 * are RSASSA-PSS ones with the SHA-256 parameters. */
	private static String verifierFor(String alg)
	{
		return alg.endsWith("RSASSA-PSS") ? "RSASSA-PSS" : alg;
	}

	private void signAndVerify(String alias, String alg, PrivateKey key, PublicKey pub)
			throws Exception
	{
		Signature signer = Signature.getInstance(alg, p11);
		if (paramsFor(alg) != null)
			signer.setParameter(paramsFor(alg));
		signer.initSign(key);
		signer.update(message);
		byte[] sig = signer.sign();

		Signature verifier = Signature.getInstance(verifierFor(alg));
		if (verifier.getProvider() == p11)
			throw new IllegalStateException(alg + ": verifier is the PKCS#11 provider");
		if (paramsFor(alg) != null)
			verifier.setParameter(paramsFor(alg));
		verifier.initVerify(pub);
		verifier.update(message);
		if (!verifier.verify(sig))
			throw new IllegalStateException(alias + " " + alg + ": signature does not verify");

		/* And it is bound to the message: one changed byte fails. */
		byte[] other = message.clone();
		other[0] ^= 1;
		verifier.initVerify(pub);
		verifier.update(other);
		if (verifier.verify(sig))
			throw new IllegalStateException(alias + " " + alg + ": verifies a changed message");

		System.out.println("sig " + alias + " " + alg + " " + signer.getProvider().getName() + " "
				+ verifier.getProvider().getName() + " " + HexFormat.of().formatHex(sig));
	}
}
