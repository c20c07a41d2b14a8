using System.CommandLine;
using Cairn.Contracts;

namespace Cairn.Cli;

/// <summary>
/// <c>cairn project create|list|show|delete</c>, <c>cairn user create|list|show|delete|password</c> and
/// <c>cairn role add|remove</c>: the identity module's projects, users and roles. Passwords are read from a file (never
/// from the command line, where other users and the shell history would see them), sent once and never shown.
/// </summary>
internal static class IdentityCommands
{
    private const string Base = "cairn/v1/identity";

    public static Command Project()
    {
        var project = new Command("project", "Identity projects (Keystone's tenants): what Block Storage volumes belong to");
        var name = new Argument<string>("NAME") { Description = "Project name" };
        var description = new Option<string?>("--description") { HelpName = "TEXT", Description = "Free text" };
        var create = new Command("create", "Create a project") { name, description };
        create.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync($"{Base}/projects",
            new CreateProjectRequest(pr.GetValue(name), pr.GetValue(description)), Json.CreateProjectRequest, Json.ProjectDto, ct)));

        var list = new Command("list", "List projects");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync($"{Base}/projects", Json.ProjectDtoArray, ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.ProjectDtoArray); return; }
            Output.Table(["NAME", "ID", "DESCRIPTION", "CREATED"], n.Select(p => new[] { p.Name, p.Id, Output.Str(p.Description), Output.Time(p.Created) }));
        });

        var nameOrId = new Argument<string>("PROJECT") { Description = "Project name or id" };
        var show = new Command("show", "Show a project") { nameOrId };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"{Base}/projects/{Uri.EscapeDataString(pr.GetValue(nameOrId)!)}", Json.ProjectDto, ct)));

        var delete = new Command("delete", "Delete a project and every role on it (its tokens stop working; its volumes stay)") { nameOrId };
        delete.Handle(async (pr, api, ct) =>
        {
            await api.DeleteAsync($"{Base}/projects/{Uri.EscapeDataString(pr.GetValue(nameOrId)!)}", ct);
            Deleted(pr, pr.GetValue(nameOrId)!);
        });
        foreach (var c in new[] { create, list, show, delete }) project.Subcommands.Add(c);
        return project;
    }

    public static Command User()
    {
        var user = new Command("user", "Identity users: who may get a token, with which role on which project");
        var name = new Argument<string>("NAME") { Description = "User name" };
        var project = new Option<string>("--project") { HelpName = "PROJECT", Description = "Project (name or id) the user gets its role on; also its default project", Required = true };
        var role = new Option<string>("--role") { HelpName = "admin|member|reader", Description = "Role on the project (default member)", DefaultValueFactory = _ => "member" };
        var passwordFile = PasswordFile();
        var create = new Command("create", "Create a user") { name, project, role, passwordFile };
        create.Handle(async (pr, api, ct) =>
        {
            var password = await ReadPasswordAsync(pr.GetValue(passwordFile)!, ct);
            Show(pr, await api.PostAsync($"{Base}/users", new CreateUserRequest(pr.GetValue(name), password, pr.GetValue(project), pr.GetValue(role)),
                Json.CreateUserRequest, Json.UserDto, ct));
        });

        var list = new Command("list", "List users and their roles");
        list.Handle(async (pr, api, ct) =>
        {
            var n = await api.GetAsync($"{Base}/users", Json.UserDtoArray, ct);
            if (pr.JsonWanted()) { Output.Json(n, Json.UserDtoArray); return; }
            Output.Table(["NAME", "ID", "DEFAULT_PROJECT", "ROLES"], n.Select(u => new[] { u.Name, u.Id, Output.Str(u.DefaultProject), Roles(u) }));
        });

        var nameOrId = new Argument<string>("USER") { Description = "User name or id" };
        var show = new Command("show", "Show a user") { nameOrId };
        show.Handle(async (pr, api, ct) => Show(pr, await api.GetAsync($"{Base}/users/{Uri.EscapeDataString(pr.GetValue(nameOrId)!)}", Json.UserDto, ct)));

        var delete = new Command("delete", "Delete a user (its tokens stop working at once)") { nameOrId };
        delete.Handle(async (pr, api, ct) =>
        {
            await api.DeleteAsync($"{Base}/users/{Uri.EscapeDataString(pr.GetValue(nameOrId)!)}", ct);
            Deleted(pr, pr.GetValue(nameOrId)!);
        });

        var newPassword = PasswordFile();
        var password = new Command("password", "Set a user's password") { nameOrId, newPassword };
        password.Handle(async (pr, api, ct) =>
        {
            var secret = await ReadPasswordAsync(pr.GetValue(newPassword)!, ct);
            Show(pr, await api.PutAsync($"{Base}/users/{Uri.EscapeDataString(pr.GetValue(nameOrId)!)}/password", new SetPasswordRequest(secret),
                Json.SetPasswordRequest, Json.UserDto, "application/json", ct));
        });
        foreach (var c in new[] { create, list, show, delete, password }) user.Subcommands.Add(c);
        return user;
    }

    public static Command Role()
    {
        var roleCmd = new Command("role", "Give users roles on projects, or take them away (roles: admin, member, reader)");
        var user = new Argument<string>("USER") { Description = "User name or id" };
        var project = new Option<string>("--project") { HelpName = "PROJECT", Description = "Project name or id", Required = true };
        var role = new Option<string>("--role") { HelpName = "admin|member|reader", Description = "The role", Required = true };
        var add = new Command("add", "Give a user a role on a project") { user, project, role };
        add.Handle(async (pr, api, ct) => Show(pr, await api.PostAsync($"{Base}/users/{Uri.EscapeDataString(pr.GetValue(user)!)}/roles",
            new RoleAssignmentRequest(pr.GetValue(project), pr.GetValue(role)), Json.RoleAssignmentRequest, Json.UserDto, ct)));
        var remove = new Command("remove", "Take a role on a project away from a user") { user, project, role };
        remove.Handle(async (pr, api, ct) => Show(pr, await api.DeleteAsync(
            $"{Base}/users/{Uri.EscapeDataString(pr.GetValue(user)!)}/roles/{Uri.EscapeDataString(pr.GetValue(project)!)}/{Uri.EscapeDataString(pr.GetValue(role)!)}", Json.UserDto, ct)));
        roleCmd.Subcommands.Add(add);
        roleCmd.Subcommands.Add(remove);
        return roleCmd;
    }

    private static Option<string> PasswordFile() => new("--password-file")
    {
        HelpName = "FILE",
        Description = "File holding the password (one line; a final newline is dropped); - reads standard input",
        Required = true,
    };

    /// <summary>The password in <paramref name="file"/>: its text without one final line break. Never echoed, never logged.</summary>
    private static async Task<string> ReadPasswordAsync(string file, CancellationToken ct)
    {
        string text;
        try
        {
            text = file == "-" ? await Console.In.ReadToEndAsync(ct) : await File.ReadAllTextAsync(file, ct);
        }
        catch (FileNotFoundException)
        {
            throw new CliError($"--password-file: {file} does not exist", ExitCodes.NotFound);
        }
        catch (DirectoryNotFoundException)
        {
            throw new CliError($"--password-file: {file} does not exist", ExitCodes.NotFound);
        }
        if (text.EndsWith("\r\n", StringComparison.Ordinal)) text = text[..^2];
        else if (text.EndsWith('\n')) text = text[..^1];
        if (text.Length == 0) throw new CliError($"--password-file: {file} is empty", ExitCodes.Usage);
        return text;
    }

    private static string Roles(UserDto u) => Output.List(u.Roles.Select(r => $"{r.Role}@{r.Project}"));

    private static void Deleted(System.CommandLine.ParseResult pr, string what)
    {
        if (pr.JsonWanted()) Output.Json(new DeletedAnswer(what), CliJsonContext.Default.DeletedAnswer);
        else Output.Fields(("deleted", what));
    }

    private static CairnJsonContext Json => CairnJsonContext.Default;

    private static void Show(System.CommandLine.ParseResult pr, ProjectDto p) => Commands.Show(pr, p, Json.ProjectDto, p => [
        ("name", p.Name),
        ("id", p.Id),
        ("domain", p.Domain),
        ("description", Output.Str(p.Description)),
        ("created", Output.Time(p.Created)),
    ]);

    private static void Show(System.CommandLine.ParseResult pr, UserDto u) => Commands.Show(pr, u, Json.UserDto, u => [
        ("name", u.Name),
        ("id", u.Id),
        ("domain", u.Domain),
        ("default_project", Output.Str(u.DefaultProject)),
        ("roles", Roles(u)),
        ("created", Output.Time(u.Created)),
    ]);
}
