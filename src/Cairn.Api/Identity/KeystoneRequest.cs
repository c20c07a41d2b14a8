using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Identity;

namespace Cairn.Api.Identity;

/// <summary>
/// Reads Keystone's <c>POST /v3/auth/tokens</c> body:
/// <c>{"auth":{"identity":{"methods":["password"],"password":{"user":{"name","domain":{"name"|"id"},"password"}|{"id","password"}}},
/// "scope":{"project":{"id"}|{"name","domain":{…}}}|"unscoped"}}</c>, or the <c>token</c> method with <c>{"token":{"id"}}</c>.
/// A body that does not have this shape is a 400 naming the field; a scope Cairn cannot give (domain, system, trust)
/// is a 401, as Keystone answers a scope the user holds no role on.
/// </summary>
internal static class KeystoneRequest
{
    public static (IReadOnlyList<string> Methods, PasswordCredentials? Password, string? Token, ProjectScope? Scope) Parse(JsonObject body)
    {
        var auth = Obj(body, "auth", "auth") ?? throw Missing("auth");
        var identity = Obj(auth, "identity", "auth.identity") ?? throw Missing("auth.identity");
        var methodsNode = identity["methods"] as JsonArray ?? throw CairnException.Invalid("Invalid input for field 'identity/methods': a list of methods is required.");
        var methods = methodsNode.Select(m => m?.GetValueKind() == JsonValueKind.String ? (string)m! : throw CairnException.Invalid("Invalid input for field 'identity/methods': every method is a string.")).ToList();
        if (methods.Count == 0) throw CairnException.Invalid("Invalid input for field 'identity/methods': at least one method is required.");

        PasswordCredentials? password = null;
        string? token = null;
        if (methods.Contains("password"))
        {
            var pw = Obj(identity, "password", "identity.password") ?? throw Missing("identity.password");
            var user = Obj(pw, "user", "identity.password.user") ?? throw Missing("identity.password.user");
            var secret = Str(user, "password", "identity.password.user.password") ?? throw Missing("identity.password.user.password");
            var id = Str(user, "id", "identity.password.user.id");
            var name = Str(user, "name", "identity.password.user.name");
            var domain = Obj(user, "domain", "identity.password.user.domain");
            if (id is null && name is null) throw CairnException.Invalid("Invalid input for field 'identity/password/user': 'id' or 'name' is required.");
            if (id is null && domain is null) throw CairnException.Invalid("Invalid input for field 'identity/password/user': a user given by name needs its 'domain' (id or name).");
            password = new PasswordCredentials(id, name, domain is null ? null : Str(domain, "id", "user.domain.id"), domain is null ? null : Str(domain, "name", "user.domain.name"), secret);
        }
        else if (methods.Contains("token"))
        {
            var t = Obj(identity, "token", "identity.token") ?? throw Missing("identity.token");
            token = Str(t, "id", "identity.token.id") ?? throw Missing("identity.token.id");
        }
        return (methods, password, token, Scope(auth));
    }

    private static ProjectScope? Scope(JsonObject auth)
    {
        var node = auth["scope"];
        if (node is null) return null;
        if (node.GetValueKind() == JsonValueKind.String && (string)node! == "unscoped") return null;
        if (node is not JsonObject scope) throw CairnException.Invalid("Invalid input for field 'scope': an object or \"unscoped\" is expected.");
        if (Obj(scope, "project", "scope.project") is not { } project)
        {
            // Domain, system and trust scopes: no user holds a role there.
            throw CairnException.Unauthorized("The request you have made requires authentication.");
        }
        var id = Str(project, "id", "scope.project.id");
        var name = Str(project, "name", "scope.project.name");
        var domain = Obj(project, "domain", "scope.project.domain");
        if (id is null && name is null) throw CairnException.Invalid("Invalid input for field 'scope/project': 'id' or 'name' is required.");
        if (id is null && domain is null) throw CairnException.Invalid("Invalid input for field 'scope/project': a project given by name needs its 'domain' (id or name).");
        return new ProjectScope(id, name, domain is null ? null : Str(domain, "id", "scope.project.domain.id"), domain is null ? null : Str(domain, "name", "scope.project.domain.name"));
    }

    private static JsonObject? Obj(JsonObject parent, string key, string path) => parent[key] switch
    {
        null => null,
        JsonObject o => o,
        _ => throw CairnException.Invalid($"Invalid input for field '{path.Replace('.', '/')}': an object is expected."),
    };

    private static string? Str(JsonObject parent, string key, string path)
    {
        var n = parent[key];
        if (n is null) return null;
        return n.GetValueKind() == JsonValueKind.String ? (string)n! : throw CairnException.Invalid($"Invalid input for field '{path.Replace('.', '/')}': a string is expected.");
    }

    private static CairnException Missing(string path) => CairnException.Invalid($"Invalid input for field '{path.Replace('.', '/')}': required.");
}
