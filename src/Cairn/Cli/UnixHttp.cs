using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Cairn.Cli;

/// <summary>
/// One HTTP/1.1 request with a small body over the local server's Unix socket, synchronously. A CLI run is mostly
/// start-up, and HttpClient's first request alone cost ~50 ms of it (measured against this); the server on the other
/// end is Kestrel, so only what Kestrel answers needs reading: a status line, headers, and a body sized by
/// Content-Length, chunked, or ended by the close we ask for.
/// </summary>
internal static class UnixHttp
{
    public static (int Status, string Body) Send(string socketPath, string method, string pathAndQuery, string? contentType, string? body)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(socketPath));
        var payload = body is null ? [] : Encoding.UTF8.GetBytes(body);
        var head = new StringBuilder()
            .Append(method).Append(" /").Append(pathAndQuery).Append(" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if (body is not null)
            head.Append("Content-Type: ").Append(contentType).Append("\r\nContent-Length: ").Append(payload.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        head.Append("\r\n");
        s.Send(Encoding.ASCII.GetBytes(head.ToString()));
        if (payload.Length > 0) s.Send(payload);

        var received = new MemoryStream();
        var buf = new byte[16 * 1024];
        int n;
        while ((n = s.Receive(buf)) > 0) received.Write(buf, 0, n);
        return Parse(received.GetBuffer().AsSpan(0, (int)received.Length));
    }

    private static (int, string) Parse(ReadOnlySpan<byte> r)
    {
        int end = r.IndexOf("\r\n\r\n"u8);
        if (end < 0) throw new IOException("the server closed the connection before answering");
        var lines = Encoding.ASCII.GetString(r[..end]).Split("\r\n");
        var status = lines[0].Split(' ');
        if (status.Length < 2 || !status[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(status[1], CultureInfo.InvariantCulture, out var code))
            throw new IOException($"the server answered something that is not HTTP: '{lines[0]}'");
        bool chunked = false;
        int? length = null;
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)) chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) length = int.Parse(value, CultureInfo.InvariantCulture);
        }
        var rest = r[(end + 4)..];
        if (!chunked) return (code, Encoding.UTF8.GetString(length is { } l ? rest[..Math.Min(l, rest.Length)] : rest));
        var body = new MemoryStream();
        while (true)
        {
            int eol = rest.IndexOf("\r\n"u8);
            if (eol < 0) throw new IOException("the server's answer ended inside a chunk header");
            var sizeText = Encoding.ASCII.GetString(rest[..eol]).Split(';')[0];
            if (!int.TryParse(sizeText, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size) || size < 0 || eol + 2 + size > rest.Length)
                throw new IOException("the server's answer has a malformed chunk");
            if (size == 0) break;
            body.Write(rest.Slice(eol + 2, size));
            rest = rest[(eol + 2 + size)..];
            if (rest.StartsWith("\r\n"u8)) rest = rest[2..];
        }
        return (code, Encoding.UTF8.GetString(body.GetBuffer().AsSpan(0, (int)body.Length)));
    }
}
