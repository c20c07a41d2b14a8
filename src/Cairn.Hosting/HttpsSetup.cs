using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Cairn.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Cairn.Hosting;

/// <summary>
/// The HTTP listener's transport security. Rules, checked at start:
/// <list type="bullet">
/// <item>Without TLS the listener must be a loopback address (nothing else can reach an unauthenticated API).</item>
/// <item>On any other address it needs TLS and client-certificate authentication (<c>--client-ca</c>).</item>
/// <item>With <c>--client-ca</c>, a client must present a certificate that chains to that CA only (not the system
/// roots) and carries the client-authentication usage (when it lists usages), and it must be on the allow-list
/// (<c>--client-allow</c>: subjects or SHA-256 fingerprints). A CA with no allow-list is refused at start: pass
/// <c>--client-allow '*'</c> to accept every certificate the CA signed (the original's nginx behaviour), on purpose.</item>
/// </list>
/// </summary>
internal static class HttpsSetup
{
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    /// <summary>
    /// The rules and the files (certificate, key, CA, allow-list), checked before the server creates anything, so that
    /// a bad TLS setting fails the start without touching the data directory.
    /// </summary>
    public static void Check(CairnOptions options, IPEndPoint http)
    {
        if (!Rules(options, IPAddress.IsLoopback(http.Address))) return;
        try
        {
            using var cert = X509Certificate2.CreateFromPemFile(options.TlsCert!, options.TlsKey);
        }
        catch (CryptographicException e)
        {
            throw CairnException.Invalid($"{CairnOptions.Setting("TlsCert")}: {options.TlsCert} with --tls-key {options.TlsKey} is not a PEM certificate and its key: {e.Message}");
        }
        if (options.ClientCa is not null) ClientPolicy.Load(options.ClientCa, options.ClientAllow);
    }

    /// <summary>The listener rules; true when the listener is to have TLS.</summary>
    private static bool Rules(CairnOptions options, bool loopback)
    {
        if (options.ClientAllow is not null && options.ClientCa is null)
            throw CairnException.Invalid("--client-allow needs --client-ca (the CA that client certificates must chain to)");
        if (options.TlsCert is null)
        {
            if (!loopback)
                throw CairnException.Invalid($"--http {options.Http}: without TLS the API listens on loopback only (e.g. 127.0.0.1:8776); " +
                    "to listen on another address give --tls-cert, --tls-key, --client-ca and --client-allow");
            return false;
        }
        if (options.ClientCa is null && !loopback)
            throw CairnException.Invalid($"--http {options.Http}: a non-loopback listener needs client-certificate authentication (--client-ca and --client-allow); " +
                "TLS alone would let anyone who can reach it use the API");
        return true;
    }

    public static void Configure(ListenOptions lo, CairnOptions options, IPEndPoint endpoint)
    {
        lo.Protocols = HttpProtocols.Http1AndHttp2;
        // The endpoint as configured: a listener on a socket bound at start (ServerHost.Bind) has no IPEndPoint of its own.
        var loopback = IPAddress.IsLoopback(endpoint.Address);
        if (!Rules(options, loopback))
        {
            // HTTP/2 needs TLS (ALPN); offering it on plaintext only earned a warning at every start.
            lo.Protocols = HttpProtocols.Http1;
            return;
        }

        var cert = X509Certificate2.CreateFromPemFile(options.TlsCert!, options.TlsKey);
        var https = new HttpsConnectionAdapterOptions { ServerCertificate = cert };
        if (options.ClientCa is not null)
        {
            var policy = ClientPolicy.Load(options.ClientCa, options.ClientAllow);
            var log = lo.ApplicationServices.GetService<ILoggerFactory>()?.CreateLogger("Cairn.Server.Tls");
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.CheckCertificateRevocation = false;
            // Kestrel's own verdict (errors) is against the system roots: ignored, the chain is checked against --client-ca only.
            https.ClientCertificateValidation = (client, _, _) =>
            {
                var why = policy.Check(client);
                if (why is not null && log is not null) HostLog.RefusedCertificate(log, client.Subject, client.GetCertHashString(HashAlgorithmName.SHA256), why);
                return why is null;
            };
        }
        lo.UseHttps(https);
    }

    /// <summary>Chain to the given CA only, then the allow-list.</summary>
    internal sealed class ClientPolicy
    {
        private readonly X509Certificate2Collection _roots;
        private readonly bool _any;
        private readonly HashSet<string> _fingerprints = new(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> _subjects = new(StringComparer.Ordinal);

        private ClientPolicy(X509Certificate2Collection roots, bool any)
        {
            _roots = roots;
            _any = any;
        }

        public static ClientPolicy Load(string caFile, string? allow)
        {
            if (!File.Exists(caFile)) throw CairnException.Invalid($"--client-ca: {caFile} does not exist");
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            if (roots.Count == 0) throw CairnException.Invalid($"--client-ca: no certificate in {caFile}");
            var entries = SplitAllow(allow);
            if (entries.Count == 0)
                throw CairnException.Invalid("--client-ca without --client-allow would let any certificate from that CA in; " +
                    "list the allowed subjects or SHA-256 fingerprints, or pass --client-allow '*' to accept them all on purpose");
            var p = new ClientPolicy(roots, entries.Contains("*"));
            foreach (var e in entries.Where(e => e != "*"))
            {
                var hex = e.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal);
                if (hex.Length == 64 && hex.All(char.IsAsciiHexDigit)) p._fingerprints.Add(hex);
                else if (e.Contains('=', StringComparison.Ordinal)) p._subjects.Add(NormaliseSubject(e));
                else throw CairnException.Invalid($"--client-allow: '{e}' is neither a subject (CN=…) nor a SHA-256 fingerprint (64 hex digits)");
            }
            return p;
        }

        /// <summary>Null when allowed, otherwise why not.</summary>
        public string? Check(X509Certificate2? cert)
        {
            if (cert is null) return "no client certificate";
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.ApplicationPolicy.Add(ClientAuth);
            if (!chain.Build(cert))
                return "does not chain to --client-ca: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
            if (_any) return null;
            if (_fingerprints.Contains(cert.GetCertHashString(HashAlgorithmName.SHA256))) return null;
            if (_subjects.Contains(NormaliseSubject(cert.Subject))) return null;
            return "not on --client-allow";
        }

        /// <summary>
        /// Entries are separated by ';' or newlines, or by ',' when what follows starts a new entry (a fingerprint,
        /// '*' or <c>CN=</c>): so <c>CN=a,O=x,CN=b</c> is two subjects, and <c>CN=a, O=x</c> one.
        /// </summary>
        internal static List<string> SplitAllow(string? allow)
        {
            var result = new List<string>();
            foreach (var part in (allow ?? "").Split([';', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                foreach (var piece in part.Split(',', StringSplitOptions.TrimEntries))
                {
                    if (piece.Length == 0) continue;
                    var hex = piece.Replace(":", "", StringComparison.Ordinal);
                    var starts = result.Count == 0 || piece == "*" || piece.StartsWith("CN=", StringComparison.OrdinalIgnoreCase)
                        || (hex.Length == 64 && hex.All(char.IsAsciiHexDigit)) || !result[^1].Contains('=', StringComparison.Ordinal);
                    if (starts) result.Add(piece);
                    else result[^1] += "," + piece;
                }
            }
            return result;
        }

        /// <summary>RDNs as a sorted set of <c>type=value</c> (type upper-cased), so order and spacing do not matter.</summary>
        internal static string NormaliseSubject(string subject) =>
            string.Join(",", subject.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(r => r.Split('=', 2) is [var t, var v] ? t.Trim().ToUpperInvariant() + "=" + v.Trim() : r)
                .Order(StringComparer.Ordinal));
    }
}
