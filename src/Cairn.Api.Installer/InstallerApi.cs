using System.Security.Cryptography;
using Cairn.Core.Identity;

namespace Cairn.Api.Installer;

/// <summary>Where the installer keeps its files: the data directory's <c>installer/</c> (variables file, inventory, key).</summary>
public sealed class InstallerOptions
{
    public required string Directory { get; init; }
}

/// <summary>
/// The installer API (QingStor installer compatible, issue 13): <c>POST /installer/api</c> with an <c>action</c>,
/// answered <c>{"action": "&lt;Action&gt;Response", "ret_code": 0, ...}</c>. See docs/api/installer.md.
/// </summary>
public static class InstallerApi
{
    /// <summary>Registers the module's services.</summary>
    public static IServiceCollection AddCairnInstaller(this IServiceCollection s, InstallerOptions options)
    {
        s.AddSingleton(options);
        s.AddSingleton(sp => new InstallerAuth(sp.GetRequiredService<IdentityService>(), TimeProvider.System));
        s.AddSingleton<InstallerService>();
        return s;
    }

    /// <summary>Maps <c>POST /installer/api</c> (also GET, for query-string callers) and the credentials helper.</summary>
    public static WebApplication MapCairnInstaller(this WebApplication app)
    {
        app.MapMethods("/installer/api", [HttpMethods.Post, HttpMethods.Get], HandleAsync).ExcludeFromDescription();
        app.MapPost("/cairn/v1/installer/credentials", CredentialsAsync).ExcludeFromDescription();
        return app;
    }

    internal static async Task HandleAsync(HttpContext ctx, InstallerService service, InstallerAuth auth, ILogger<InstallerService> log)
    {
        string? action = null;
        JsonObject answer;
        int status = 200;
        try
        {
            if (!InstallerAuth.SecureTransport(ctx))
                throw new InstallerException(RetCodes.InsecureTransport, 403,
                    "the installer API answers only on loopback, the server's Unix socket or TLS (https); connect through one of them");
            var request = await InstallerRequest.ReadAsync(ctx.Request, ctx.RequestAborted);
            action = Field.Str(request["action"]);
            if (string.IsNullOrWhiteSpace(action))
                throw InstallerException.BadRequest($"'action' is required: one of {string.Join(", ", InstallerService.Actions)}");
            if (!InstallerService.Actions.Contains(action))
                throw InstallerException.BadRequest($"unknown action '{action}': use one of {string.Join(", ", InstallerService.Actions)}");
            var user = auth.Check(Field.Str(request["USER_ID"]), Field.Str(request["PASSWORD"]), InstallerAuth.Peer(ctx));
            answer = await service.DispatchAsync(action, request, ctx.RequestAborted);
            answer["ret_code"] = RetCodes.Ok;
            InstallerLog.Action(log, action, user.Name, 0);
        }
        catch (InstallerException e)
        {
            status = e.HttpStatus;
            answer = new JsonObject { ["ret_code"] = e.RetCode, ["message"] = e.Message };
            InstallerLog.Action(log, action ?? "-", "-", e.RetCode);
        }
        catch (CairnException e)
        {
            status = 400;
            answer = new JsonObject { ["ret_code"] = RetCodes.InvalidParameter, ["message"] = e.Message };
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            return;
        }
#pragma warning disable CA1031 // the answer to any unexpected failure is ret_code 5000 with the detail in the log
        catch (Exception e)
#pragma warning restore CA1031
        {
            InstallerLog.Failed(log, action ?? "-", e);
            status = 500;
            answer = new JsonObject { ["ret_code"] = RetCodes.Internal, ["message"] = "internal error; the server log has the detail" };
        }
        var ordered = new JsonObject { ["action"] = (action is { Length: > 0 } ? action : "Unknown") + "Response" };
        foreach (var (k, v) in answer) ordered[k] = v?.DeepClone();
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(ordered.ToJsonString(), ctx.RequestAborted);
    }

    /// <summary>
    /// <c>POST /cairn/v1/installer/credentials {"name": ..., "password": ...}</c> → <c>{"USER_ID", "PASSWORD"}</c>: the
    /// values the installer API wants, for a caller who knows the password (checked like a Keystone login).
    /// </summary>
    internal static async Task CredentialsAsync(HttpContext ctx, IdentityService identity, InstallerAuth auth)
    {
        if (!InstallerAuth.SecureTransport(ctx))
        {
            ctx.Response.StatusCode = 403;
            await ctx.Response.WriteAsJsonAsync(new JsonObject { ["error"] = new JsonObject { ["code"] = "forbidden", ["message"] = "loopback, Unix socket or TLS only" } });
            return;
        }
        JsonObject body;
        using var reader = new StreamReader(ctx.Request.Body);
        try { body = InstallerRequest.ParseJson(await reader.ReadToEndAsync(ctx.RequestAborted)); }
        catch (InstallerException e)
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new JsonObject { ["error"] = new JsonObject { ["code"] = "invalid", ["message"] = e.Message } });
            return;
        }
        var name = Field.Str(body["name"]) ?? "";
        var password = Field.Str(body["password"]) ?? "";
        var user = await identity.VerifyPasswordAsync(name, password, ctx.RequestAborted);
        if (user is null)
        {
            ctx.Response.StatusCode = 401;
            await ctx.Response.WriteAsJsonAsync(new JsonObject { ["error"] = new JsonObject { ["code"] = "unauthorized", ["message"] = $"user {name}: no such user or wrong password" } });
            return;
        }
        await ctx.Response.WriteAsJsonAsync(new JsonObject { ["USER_ID"] = user.Id, ["PASSWORD"] = auth.Expected(user.Id) });
    }
}

internal static partial class InstallerLog
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Information, Message = "installer {Action} by {User}: ret_code {RetCode}")]
    public static partial void Action(ILogger logger, string action, string user, int retCode);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Error, Message = "installer {Action} failed")]
    public static partial void Failed(ILogger logger, string action, Exception e);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Information, Message = "installer: configuration {JobId} written to {Path}")]
    public static partial void Configured(ILogger logger, string jobId, string path);
}

internal static class JobIds
{
    private const string Alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    /// <summary>A job id in the seed's shape: <c>j-</c> and 8 random characters.</summary>
    public static string New() => "j-" + RandomNumberGenerator.GetString(Alphabet, 8);
}
